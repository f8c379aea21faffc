// A TypeScript function: Web APIs in, Web APIs out, host capabilities on `pb` (typed by
// @pb-serverless/sdk; `npm run typecheck` checks this folder).
//   pbs deploy src/index.ts --name hello-ts
//   curl 'http://127.0.0.1:8090/api/pb_serverless/hello-ts?name=you'
export async function GET(req: Request): Promise<Response> {
  const name = new URL(req.url).searchParams.get("name") ?? "world";
  return Response.json({
    message: `Hello, ${name}!`,
    trace_id: await pb.trace.traceId(),
    request_id: await pb.utils.uuid(),
  });
}

// POST streams its answer back word by word, as an LLM proxy would.
export async function POST(req: Request): Promise<Response> {
  const words = (await req.text()).split(/\s+/).filter(Boolean);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const word of words) {
        controller.enqueue(encoder.encode(word + "\n"));
        await new Promise((r) => setTimeout(r, 100));
      }
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8" } });
}
