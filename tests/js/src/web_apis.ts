// Exercises the Web APIs a function relies on; each route answers JSON.
export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  switch (url.pathname.split("/").pop()) {
    case "fetch-all": {
      // ?target=http://host:port/slow — three fetches at once.
      const target = url.searchParams.get("target")!;
      const started = Date.now();
      const bodies = await Promise.all([1, 2, 3].map((i) => fetch(`${target}?n=${i}`).then((r) => r.text())));
      return Response.json({ bodies, ms: Date.now() - started });
    }
    case "stream": {
      // Chunks produced over time; the client sees them as they come.
      const n = Number(url.searchParams.get("n") ?? "3");
      const delay = Number(url.searchParams.get("delay") ?? "200");
      const enc = new TextEncoder();
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i === n) return controller.close();
          if (i > 0) await new Promise((r) => setTimeout(r, delay));
          controller.enqueue(enc.encode(`chunk ${i++}\n`));
        },
      });
      return new Response(body, { headers: { "content-type": "text/plain" } });
    }
    case "throw":
      throw new Error("boom from the handler");
    case "random":
      return Response.json({ random: Math.random(), uuid: crypto.randomUUID() });
    case "globals": {
      // State set here must not be seen by the next request.
      const g = globalThis as any;
      const seen = g.counter ?? 0;
      g.counter = seen + 1;
      return Response.json({ seen });
    }
    default:
      return Response.json({ ok: true, method: req.method, path: url.pathname, query: url.search });
  }
}

export async function POST(req: Request): Promise<Response> {
  const body = await req.json();
  return Response.json({ echo: body });
}
