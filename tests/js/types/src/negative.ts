// Each line after an `@ts-expect-error` must not compile: tsc fails if it does (the directive
// would be unused).
export async function negative(): Promise<void> {
  // @ts-expect-error: a field the collection does not have
  await pb.collection("posts").create({ titel: "typo" });
  // @ts-expect-error: a select value the field does not list
  await pb.collection("posts").create({ title: "t", status: "archived" });
  // @ts-expect-error: a collection the project does not have
  pb.collection("post");
  // @ts-expect-error: a KV option that does not exist (`ttl` is)
  await pb.kv.set("k", 1, { expirationTtl: 60 });
  // @ts-expect-error: only the "shared" namespace can be opened
  pb.kv.bucket("other");
  // @ts-expect-error: a job payload of the wrong shape
  await pb.jobs.enqueue("resize", { id: 1, width: "wide" });
  // @ts-expect-error: a job no function consumes
  await pb.jobs.enqueue("thumbnail", {});
  // @ts-expect-error: a secret the manifest does not declare
  await pb.secrets.get("STRIPE_KEY");
  // @ts-expect-error: pb.tx takes a callback
  await pb.tx();
  await pb.tx(async (tx) => {
    // @ts-expect-error: a transaction has no KV reads (only set and delete join it)
    await tx.kv().get("k");
  });
  // @ts-expect-error: no Node built-ins in the engine
  const { readFileSync } = await import("node:fs");
  // @ts-expect-error: no `process` either
  console.log(process.env.HOME, readFileSync);
  // @ts-expect-error: nor `Buffer`
  Buffer.from("x");
}
