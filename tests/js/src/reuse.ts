// A function whose module state shows whether its instance served earlier
// requests: with `reuse` on, `count` keeps climbing until the instance is
// retired; otherwise every request starts from the snapshot.
let count = 0;

export async function GET(req: Request): Promise<Response> {
  count += 1;
  const route = new URL(req.url).pathname.split("/").pop();
  switch (route) {
    case "spin":
      for (;;) {}
    case "hog": {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array(1 << 16).fill(1));
    }
    case "secret": {
      // Read once, kept in a global: a later request that logs it must
      // still have it redacted.
      (globalThis as any).kept = await pb.secrets.get("reuse_canary");
      return new Response("kept");
    }
    case "leak":
      console.log(`kept: ${(globalThis as any).kept}`);
      return new Response("logged");
    default:
      console.log(`request ${count}`);
      return Response.json({ count });
  }
}

// A before-create hook that stamps the record with the same counter: with
// reuse on, hooks and requests of the deployed version share instances.
export function stamp(record: any) {
  count += 1;
  return { ...record, n: count };
}
