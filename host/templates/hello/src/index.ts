// GET /api/pb_serverless/hello?name=you
// Web APIs in, Web APIs out; the host's capabilities are on `pb` (records, kv, files, jobs,
// secrets, trace). Save this file while `pbs dev` runs and the next request gets the new code.

export async function GET(req: Request): Promise<Response> {
  const name = new URL(req.url).searchParams.get("name") ?? "world";
  const visits = await pb.kv.incr("visits");
  console.log(`hello ${name} (visit ${visits})`);
  return Response.json({ message: `Hello, ${name}!`, visits, trace_id: await pb.trace.traceId() });
}
