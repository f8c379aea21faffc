// Documents with semantic search: a collection with a vector field, a job that embeds every new
// document, and a search endpoint.
//   POST /api/pb_serverless/docs  {"text": "…"}     add a document (or through the records API)
//   GET  /api/pb_serverless/docs?q=…                the closest documents
//
// Every new document, however it is written, fires the `index_doc` hook (pb_serverless.json),
// which queues an `embed` job; the job computes the vector and stores it on the record.

import { vectorize } from "./vectorize";

type Doc = { id: string; text: string; embedding?: number[] | null };

export async function POST(req: Request): Promise<Response> {
  const body = await req.json().catch(() => null);
  if (typeof body?.text !== "string" || !body.text.trim()) {
    return Response.json({ status: 400, message: 'send {"text": "…"}', data: {} }, { status: 400 });
  }
  const doc: Doc = await pb.collection("docs").create({ text: body.text.trim() });
  return Response.json({ id: doc.id, text: doc.text }, { status: 201 });
}

export async function GET(req: Request): Promise<Response> {
  const q = new URL(req.url).searchParams.get("q")?.trim();
  if (!q) {
    const page = await pb.collection("docs").getList(1, 20, { sort: "-created", fields: "id,text" });
    return Response.json(page);
  }
  const hits = await pb.collection("docs").vectorSearch({
    field: "embedding",
    vector: await vectorize(q),
    top: 5,
    fields: "id,text",
  });
  return Response.json(hits.map((h: { record: Doc; score: number }) => ({ ...h.record, score: h.score })));
}

// Record hook (after_create): the write has committed; queue the slow part.
export async function index_doc(doc: Doc): Promise<void> {
  await pb.jobs.enqueue("embed", { id: doc.id }, { dedupeKey: `embed:${doc.id}` });
}

// Job `embed` (bound to this function in pb_serverless.json): runs after the response, retried
// when it throws.
export async function embed(payload: { id: string }): Promise<void> {
  const doc: Doc = await pb.collection("docs").getOne(payload.id);
  await pb.collection("docs").update(doc.id, { embedding: await vectorize(doc.text) });
  console.log(`embedded ${doc.id}`);
}
