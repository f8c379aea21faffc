// The `pb` global: each capability's JS face reaches the host; one that is
// not implemented yet rejects with its typed error.
export async function GET(): Promise<Response> {
  const outcomes: Record<string, unknown> = {};
  const attempt = async (name: string, f: () => Promise<unknown>) => {
    try {
      outcomes[name] = { ok: await f() };
    } catch (e: any) {
      outcomes[name] = { name: e.name, code: e.code, message: e.message };
    }
  };
  await attempt("kv.get", async () => {
    await pb.kv.set("chat_session:123", { stage: "step_2" }, { ttl: 600 });
    return pb.kv.get("chat_session:123");
  });
  await attempt("secrets.get", () => pb.secrets.get("OPENAI_API_KEY"));
  await attempt("collection.getOne", () => pb.collection("posts").getOne("abc"));
  await attempt("jobs.enqueue", () => pb.jobs.enqueue("process_pdf", { fileId: 1 }));
  await attempt("files.list", () => pb.files.list("posts", "abc"));
  await attempt("trace.traceId", () => pb.trace.traceId());
  await attempt("utils.uuid", () => pb.utils.uuid());
  await attempt("utils.hash", () => pb.utils.hash("abc", "sha256"));
  return Response.json(outcomes);
}

