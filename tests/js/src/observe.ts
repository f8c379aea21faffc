// Observability (tests/tests/e2e/observability.rs): one request that logs,
// calls pb:kv and pb:data, fetches, opens a user span and enqueues a job;
// the job handler in the same bundle; and a fixed workload for the usage
// ledger.
//
//   GET ?target=URL  → the traced request; {traceId, job}
//   GET              → only the console line; {traceId}
//   POST             → the usage workload: 2 kv sets, 1 kv get, 1 record
//                      created and read back; {id}

declare const pb: any;

export async function GET(req: Request): Promise<Response> {
  const target = new URL(req.url).searchParams.get("target");
  console.log("Processing", { userId: 1 });
  if (target === null) return Response.json({ traceId: await pb.trace.traceId() });
  await pb.kv.set("seen", "yes");
  const page = await pb.collection("notes").getList(1, 10);
  const answer = await fetch(target);
  const text = await answer.text();
  await pb.trace.span("user-work", async () => {
    await pb.kv.get("seen");
  });
  const job = await pb.jobs.enqueue("observe_job", { from: "request" });
  return Response.json({ traceId: await pb.trace.traceId(), job, notes: page.items.length, text });
}

export async function POST(_req: Request): Promise<Response> {
  await pb.kv.set("a", 1);
  await pb.kv.set("b", 2);
  await pb.kv.get("a");
  const note = await pb.collection("notes").create({ text: "counted" });
  await pb.collection("notes").getOne(note.id);
  return Response.json({ id: note.id });
}

export async function observe_job(payload: { from: string }) {
  console.info("job ran", { from: payload.from });
  await pb.kv.set("job", payload.from);
}
