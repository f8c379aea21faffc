// What the Web API objects every request touches cost in the engine
// (QuickJS's interpreter), one operation at a time: bench/js-micro.sh.
function time(label: string, n: number, f: () => unknown): string {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  const us = ((performance.now() - t0) * 1000) / n;
  return `${label.padEnd(44)} ${us.toFixed(2).padStart(8)} µs\n`;
}

export default {
  fetch(): Response {
    const n = 2000;
    const pairs = [["host", "127.0.0.1:8090"], ["user-agent", "wrk"], ["accept", "*/*"]];
    const response = new Response("hello from js\n", { headers: { "content-type": "text/plain" } });
    let out = "";
    out += time("empty loop body", n, () => 0);
    out += time("new URL(url)", n, () => new URL("http://127.0.0.1:8090/api/x?y=1"));
    out += time("new Headers(3 pairs)", n, () => new Headers(pairs));
    out += time("new Request(url, {method, headers})", n, () =>
      new Request("http://127.0.0.1:8090/", { method: "GET", headers: pairs }));
    out += time("new Response(text, {headers})", n, () =>
      new Response("hello from js\n", { headers: { "content-type": "text/plain" } }));
    out += time("Response.json(object)", n, () => Response.json({ ok: true, n: 1 }));
    out += time("[...response.headers]", n, () => [...response.headers]);
    out += time("new AbortController()", n, () => new AbortController());
    out += time("TextEncoder.encode(short)", n, () => new TextEncoder().encode("hello from js\n"));
    out += time("async function + await", n, () => (async () => { await null; })());
    return new Response(out);
  },
};
