// A handler that answers without a promise: `serve` sends its Response at
// once (guest-js/js/60-serve.js), with the same results as an async
// handler's. Also what an incoming Request reports, and header checks.
export default {
  fetch(req: Request): Response {
    const route = new URL(req.url).pathname.split("/").pop();
    switch (route) {
      case "request": {
        const copy = req.clone();
        return Response.json({
          method: req.method,
          url: req.url,
          accept: req.headers.get("accept"),
          cache: req.cache,
          credentials: req.credentials,
          integrity: req.integrity,
          keepalive: req.keepalive,
          mode: req.mode,
          redirect: req.redirect,
          referrer: req.referrer,
          referrerPolicy: req.referrerPolicy,
          aborted: req.signal.aborted,
          clone: { method: copy.method, url: copy.url, mode: copy.mode, accept: copy.headers.get("accept") },
        });
      }
      case "stream": {
        const enc = new TextEncoder();
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const part of ["one ", "two ", "three"]) controller.enqueue(enc.encode(part));
            controller.close();
          },
        });
        return new Response(body, { headers: { "Content-Type": "text/plain" } });
      }
      case "headers":
        return new Response("a,b\n", { status: 201, headers: { "Content-Type": "text/csv", "X-Request-Id": "r-1" } });
      case "bad-headers": {
        const errors: string[] = [];
        for (const [name, value] of [["bad name", "x"], ["x-ok", "line\nbreak"], ["Content-Type", "fine"]]) {
          try {
            new Headers({ [name]: value });
            errors.push("none");
          } catch (e: any) {
            errors.push(e.name);
          }
        }
        return Response.json(errors);
      }
      case "to-string":
        // The runtime's own functions print as built-ins do; the bundle's keep their text.
        return Response.json({
          fetch: fetch.toString(),
          headersGet: Headers.prototype.get.toString(),
          user: function twice(n: number) {
            return n * 2;
          }.toString(),
        });
      case "empty":
        return new Response(null, { status: 204 });
      case "throw":
        throw new Error("sync boom");
      case "not-a-response":
        return "just text" as unknown as Response;
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
