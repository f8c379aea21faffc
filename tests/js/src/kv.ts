// pb.kv from JS, for the conformance suite (tests/tests/e2e/kv.rs) and the
// benchmark (tests/benches/kv.rs).
//
// POST with a JSON body runs one call: {op, ns?, key?, value?, raw?, ttl?,
// by?, expected?, prefix?, cursor?, limit?} → {ok: result} or {error: {name,
// code, message}}. `ns` picks the bucket (absent = the function's own);
// `raw` (a list of byte values) is sent as a Uint8Array instead of `value`;
// a result that is bytes comes back as {raw: [...]}.
//
// GET routes:
//   /incr?key=K&n=N      N × incr(K) in one invocation → {last}
//   /lock?key=K&ttl=S    setIfAbsent(K, …, {ttl: S}) → {won}
//   /chat                the example: set with a TTL, get parsed JSON
//   /get?key=K           one get → {value} (the HTTP benchmark)
//   /noop                the same answer without a KV call (its baseline)
//   /bench?op=get|set|hostcall|nodb&n=N  N calls in one invocation → {n, ms, usPerCall}
//                        (hostcall: pb.trace.traceId; nodb: a get refused before the database)


const bytesOut = (v: unknown) => (v instanceof Uint8Array ? { raw: Array.from(v) } : v);

async function call(a: any): Promise<unknown> {
  const bucket = a.ns === undefined ? pb.kv : pb.kv.bucket(a.ns);
  const value = a.raw !== undefined ? new Uint8Array(a.raw) : a.value;
  const opts = a.ttl === undefined ? {} : { ttl: a.ttl };
  switch (a.op) {
    case "get":
      return bytesOut(await bucket.get(a.key));
    case "set":
      return await bucket.set(a.key, value, opts);
    case "delete":
      return await bucket.delete(a.key);
    case "incr":
      return a.by === undefined ? await bucket.incr(a.key) : await bucket.incr(a.key, a.by);
    case "setIfAbsent":
      return await bucket.setIfAbsent(a.key, value, opts);
    case "compareAndSwap":
      return await bucket.compareAndSwap(a.key, a.expected, value, opts);
    case "listKeys":
      return await bucket.listKeys(a.prefix);
    case "listKeysPage":
      return await bucket.listKeysPage(a.prefix, { cursor: a.cursor, limit: a.limit });
    default:
      throw new Error(`unknown op ${a.op}`);
  }
}

export async function POST(req: Request): Promise<Response> {
  const a = await req.json();
  try {
    const ok = await call(a);
    return Response.json({ ok: ok === undefined ? null : ok });
  } catch (e: any) {
    return Response.json({ error: { name: e.name, code: e.code ?? null, message: e.message } });
  }
}

export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const q = (name: string, fallback: string) => url.searchParams.get(name) ?? fallback;
  switch (url.pathname.split("/").pop()) {
    case "incr": {
      const key = q("key", "counter");
      let last = 0;
      for (let i = Number(q("n", "1")); i > 0; i--) last = await pb.kv.incr(key);
      return Response.json({ last });
    }
    case "lock": {
      const won = await pb.kv.setIfAbsent(q("key", "lock"), { holder: crypto.randomUUID() }, { ttl: Number(q("ttl", "10")) });
      return Response.json({ won });
    }
    case "chat": {
      await pb.kv.set("chat_session:123", { stage: "step_2" }, { ttl: 600 });
      return Response.json({ session: await pb.kv.get("chat_session:123") });
    }
    case "get":
      return Response.json({ value: await pb.kv.get(q("key", "bench")) });
    case "noop":
      return Response.json({ value: null });
    case "bench": {
      const op = q("op", "get");
      const n = Number(q("n", "1000"));
      const value = { stage: "step_2", n: 1 };
      await pb.kv.set("bench", value);
      const started = Date.now();
      if (op === "get") {
        for (let i = 0; i < n; i++) await pb.kv.get("bench");
      } else if (op === "set") {
        for (let i = 0; i < n; i++) await pb.kv.set("bench", value);
      } else if (op === "hostcall") {
        // The floor of a pb call: a synchronous host function, no database.
        for (let i = 0; i < n; i++) await pb.trace.traceId();
      } else {
        // The async host call of a get, refused before the database.
        for (let i = 0; i < n; i++) await pb.kv.get("").catch(() => null);
      }
      const ms = Date.now() - started;
      return Response.json({ n, ms, usPerCall: (ms * 1000) / n });
    }
    default:
      return new Response("no such route\n", { status: 404 });
  }
}
