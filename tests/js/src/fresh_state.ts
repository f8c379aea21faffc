// Module state is evaluated once at build time (in the snapshot); changes a
// request makes must not be seen by the next one.
let counter = 0;
const startedWith = Math.random();

export default {
  fetch(): Response {
    counter += 1;
    (globalThis as any).leak = ((globalThis as any).leak ?? 0) + 1;
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return Response.json({
      counter,
      leak: (globalThis as any).leak,
      random: Math.random(),
      bytes: Array.from(bytes),
      uuid: crypto.randomUUID(),
      startedWith,
    });
  },
};
