// Compression Streams, URLPattern and the Minimum Common API's small
// globals, as a function sees them.
function pump(body: ReadableStream<Uint8Array> | null, through: TransformStream<Uint8Array, Uint8Array>): Response {
  return new Response(body!.pipeThrough(through), { headers: { "content-type": "application/octet-stream" } });
}

export async function POST(req: Request): Promise<Response> {
  const route = new URL(req.url).pathname.split("/").pop();
  const format = (new URL(req.url).searchParams.get("format") ?? "gzip") as CompressionFormat;
  if (route === "compress") return pump(req.body, new CompressionStream(format));
  if (route === "decompress") {
    try {
      return new Response(await new Response(req.body!.pipeThrough(new DecompressionStream(format))).arrayBuffer());
    } catch (e: any) {
      return Response.json({ error: e.name, message: e.message }, { status: 400 });
    }
  }
  return new Response("not found", { status: 404 });
}

export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const route = url.pathname.split("/").pop();
  if (route === "roundtrip") {
    // Many chunks through gzip and back, inside the engine.
    const n = Number(url.searchParams.get("n") ?? "200");
    const enc = new TextEncoder();
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < n; i++) controller.enqueue(enc.encode(`chunk ${i} ${"x".repeat(i % 50)}\n`));
        controller.close();
      },
    });
    let compressedBytes = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        compressedBytes += chunk.length;
        c.enqueue(chunk);
      },
    });
    const text = await new Response(
      source.pipeThrough(new CompressionStream("gzip")).pipeThrough(counter).pipeThrough(new DecompressionStream("gzip")),
    ).text();
    const lines = text.split("\n").filter(Boolean);
    return Response.json({ lines: lines.length, last: lines.at(-1), compressedBytes, plainBytes: enc.encode(text).length });
  }
  if (route === "first-chunk") {
    // A complete gzip member written without closing the stream: its
    // decompressed bytes must come out now, not when the input ends.
    const format = (url.searchParams.get("format") ?? "gzip") as CompressionFormat;
    const compressed = await new Response(
      new Blob(["expected output"]).stream().pipeThrough(new CompressionStream(format)),
    ).arrayBuffer();
    const ds = new DecompressionStream(format);
    const writer = ds.writable.getWriter();
    writer.write(new Uint8Array(compressed));
    const reader = ds.readable.getReader();
    const first = await Promise.race([
      reader.read().then(({ value }) => new TextDecoder().decode(value)),
      new Promise<string>((resolve) => setTimeout(() => resolve("(nothing before the input ended)"), 5000)),
    ]);
    return Response.json({ first });
  }
  if (route === "route") {
    const patterns = [
      new URLPattern({ pathname: "/books/:id(\\d+)" }),
      new URLPattern("/shelves/:shelf/*", "https://example.com"),
      new URLPattern({ hostname: "{:sub.}?example.com", pathname: "/search" }),
    ];
    const target = url.searchParams.get("url")!;
    const matches = patterns.map((p) => {
      const m = p.exec(target);
      return m && { pathname: m.pathname.groups, hostname: m.hostname.groups };
    });
    return Response.json({ matches, pathnames: patterns.map((p) => p.pathname) });
  }
  if (route === "globals") {
    return Response.json({
      self: self === globalThis,
      userAgent: navigator.userAgent,
      timeOrigin: typeof performance.timeOrigin,
      reportError: typeof reportError,
      classes: ["Crypto", "CryptoKey", "SubtleCrypto", "CompressionStream", "DecompressionStream", "URLPattern", "CustomEvent"].filter(
        (name) => typeof (globalThis as any)[name] === "function",
      ),
    });
  }
  return new Response("not found", { status: 404 });
}
