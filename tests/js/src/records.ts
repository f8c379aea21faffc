// pb.collection(…) from JS, for the pb:data conformance suite
// (tests/tests/e2e/vector.rs) and the vector benchmark (tests/benches/vector.rs).
//
// POST with a JSON body runs one call: {op, collection, id?, data?, page?,
// perPage?, options?, filter?, query?} → {ok: result} or {error: {name, code,
// status, message}}. In `query.vector` the strings "NaN" and "Infinity" become those
// numbers (JSON has none).
//
// GET /search?collection=C&field=F&top=N&filter=…&v=0.1,0.2,… → {ms, ids, scores}
// (one vectorSearch, timed in the guest).


async function call(a: any): Promise<unknown> {
  const c = pb.collection(a.collection);
  switch (a.op) {
    case "getOne":
      return await c.getOne(a.id, a.options);
    case "getList":
      return await c.getList(a.page, a.perPage, a.options);
    case "getFullList":
      return await c.getFullList(a.options);
    case "getFirstListItem":
      return await c.getFirstListItem(a.filter, a.options);
    case "create":
      return await c.create(a.data);
    case "update":
      return await c.update(a.id, a.data);
    case "delete":
      return await c.delete(a.id);
    case "vectorSearch": {
      const q = { ...a.query };
      if (Array.isArray(q.vector)) q.vector = q.vector.map((x: unknown) => (typeof x === "string" ? Number(x) : x));
      return await c.vectorSearch(q);
    }
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
    return Response.json({ error: { name: e.name, code: e.code ?? null, status: e.status ?? null, message: e.message } });
  }
}

export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const q = (name: string) => url.searchParams.get(name);
  const vector = (q("v") ?? "").split(",").map(Number);
  const started = Date.now();
  const found = await pb.collection(q("collection") ?? "").vectorSearch({
    field: q("field") ?? "",
    vector,
    filter: q("filter") || undefined,
    top: Number(q("top") ?? "10"),
  });
  return Response.json({
    ms: Date.now() - started,
    ids: found.map((f: any) => f.record.id),
    scores: found.map((f: any) => f.score),
  });
}
