// pb.jobs from JS, for the pb:jobs and cron suites (tests/tests/e2e/jobs.rs,
// cron.rs): an HTTP handler enqueues, named exports in the same bundle
// consume the jobs and cron ticks. jobs_v2.ts is the same function with
// another `process_pdf`, to tell versions apart.
//
//   POST {name, payload, options}  → {id} or {error: {name, code, message}}
//   GET ?status=ID                 → {status: pb.jobs.status(ID)}
//   GET ?kv=KEY                    → {value: pb.kv.get(KEY)}


export async function POST(req: Request): Promise<Response> {
  const a = await req.json();
  try {
    const id = await pb.jobs.enqueue(a.name, a.payload, a.options ?? {});
    return Response.json({ id });
  } catch (e: any) {
    return Response.json({ error: { name: e.name, code: e.code, message: e.message } });
  }
}

export async function GET(req: Request): Promise<Response> {
  const params = new URL(req.url).searchParams;
  const id = params.get("status");
  if (id !== null) return Response.json({ status: await pb.jobs.status(id) });
  return Response.json({ value: await pb.kv.get(params.get("kv") ?? "") });
}

/** The example: `pb.jobs.enqueue('process_pdf', {fileId})`. */
export async function process_pdf(data: { fileId: number }, job: { id: string; attempt: number }) {
  if ((data as any).failUntil > job.attempt) throw new Error(`not yet (attempt ${job.attempt})`);
  await pb.kv.set(`pdf:${data.fileId}`, { id: job.id, attempt: job.attempt, version: "v1" });
}

/** A cron handler: counts each tick. */
export async function tick(t: { name: string; scheduledTime: number }) {
  await pb.kv.incr(`tick:${t.scheduledTime}`);
}
