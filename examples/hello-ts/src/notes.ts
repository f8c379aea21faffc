// Notes with semantic search, a queue, a cron job and a record hook — one function, every
// capability on `pb`, typed from pb_serverless.json by `pbs types` (pb-env.d.ts: `notes` is a
// NotesRecord, `count_words` takes {id}).
//   pbs deploy            (from examples/hello-ts: deploys the project in pb_serverless.json)
//   curl -d '{"text": "buy oat milk and coffee"}' http://127.0.0.1:8090/api/pb_serverless/notes
//   curl 'http://127.0.0.1:8090/api/pb_serverless/notes?q=coffee'
//   curl 'http://127.0.0.1:8090/api/collections/notes/records?sort=-created'   (the records API)
import type { HookHandler } from "@pb-serverless/sdk";
import type { NotesRecord } from "../pb-env";

const DIMS = 64; // the `dimensions` of the `embedding` field in pb_serverless.json

/**
 * A toy embedding (hashed bag of words) so the example runs without an API
 * key; for real ones, call an embedding model here (e.g. `embed()` from the
 * `ai` package) and list its host in `allowed_hosts`.
 */
function embed(text: string): number[] {
  const v = new Array<number>(DIMS).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
    v[(h >>> 0) % DIMS] += 1;
  }
  if (!v.some((x) => x !== 0)) v[0] = 1; // a zero vector has no direction
  return v;
}

// POST {"text": "…"}: the note and the job that counts its words commit together.
export async function POST(req: Request): Promise<Response> {
  const { text } = (await req.json().catch(() => ({}))) as { text?: unknown };
  if (typeof text !== "string" || !text.trim()) {
    return Response.json({ status: 400, message: 'send {"text": "…"}', data: {} }, { status: 400 });
  }
  try {
    const note = await pb.tx(async (tx) => {
      const note = await tx.collection("notes").create({ text, embedding: embed(text) });
      await tx.jobs.enqueue("count_words", { id: note.id });
      return note;
    });
    return Response.json({ id: note.id, text: note.text }, { status: 201 });
  } catch (e) {
    // Refused by the `tidy_note` hook below (a PbError with status 400).
    const err = e as { status?: number; message?: string };
    if (err.status !== 400) throw e;
    return Response.json({ status: 400, message: err.message, data: {} }, { status: 400 });
  }
}

// A record hook (`hooks` in pb_serverless.json): runs inside the transaction of every create of a
// note — from this function, the records API or any other function. Returning a record changes
// what is written; throwing refuses the write (the client gets 400 with the message).
export const tidy_note: HookHandler<NotesRecord> = (note) => {
  const text = String(note.text ?? "").replace(/\s+/g, " ").trim();
  if (text.length > 500) throw new Error("a note is at most 500 characters");
  return { ...note, text };
};

// GET ?q=…: the closest notes by cosine similarity; without q, the latest notes.
export async function GET(req: Request): Promise<Response> {
  const q = new URL(req.url).searchParams.get("q");
  if (!q) {
    return Response.json(await pb.collection("notes").getList(1, 20, { sort: "-created", fields: "id,text,words" }));
  }
  const hits = await pb.collection("notes").vectorSearch({ field: "embedding", vector: embed(q), top: 5 });
  return Response.json(hits.map((h) => ({ id: h.record.id, text: h.record.text, score: h.score })));
}

// A queued job (enqueued above): runs after the response, retried if it throws.
export async function count_words(data: { id: string }): Promise<void> {
  const note = await pb.collection("notes").getOne(data.id);
  const words = note.text.split(/\s+/).filter(Boolean).length;
  await pb.collection("notes").update(data.id, { words });
  await pb.kv.incr("notes_processed");
}

// A cron job (schedule in pb_serverless.json).
export async function nightly(): Promise<void> {
  await pb.kv.set("last_nightly", new Date().toISOString());
}
