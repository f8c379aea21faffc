// Record hooks, for the hooks suite (tests/tests/e2e/hooks.rs). Bound by
// the tests through PUT /api/pb_serverless/_admin/hooks:
//
//   posts  before_create → checkPost   requires a title, fills slug + status
//                                       ("reject-after-write": writes records, a key, then throws)
//   posts  after_create  → auditPost   audit {action: "created", post, depth, seen}
//   posts  before_update → keepTitle   a published post keeps its title
//   posts  before_delete → guardDelete a published post is not deleted
//   posts  after_delete  → auditDelete audit {action: "deleted", post}
//   loops  before_create → recurse     creates another loop: recursion without end
//   spins  before_create → spin        never returns
// and, for the hooks benchmark (tests/benches/hooks.rs):
//   notes  before_create → touch       sets `status`
//   notes  after_create  → auditNote   audit {action: "created", post}
//
// HTTP, for writes through pb:data:
//   POST {op: "create", collection, data}  → {ok: record} or {error: {status, message}}
//   POST {op: "txCreate", data, fail}      → the same create inside pb.tx, then a throw if `fail`
//   POST {op: "txCatch"}                   → in pb.tx: a refused create (caught), then one that commits
//   GET ?kv=KEY                            → {value: pb.kv.get(KEY)}


function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

export async function checkPost(record: any, ctx: any) {
  if (!record.title) throw new Error("title is required");
  if (record.title === "reject-after-write") {
    // Written inside the write's transaction: gone with the refused write.
    await pb.collection("audit").create({ action: "side-write", title: record.title });
    await pb.kv.set("hook:side-write", true);
    // A nested hooked write: its after-hook must not run once it is undone.
    await pb.collection("posts").create({ title: "side post" });
    throw new Error("refused after writing");
  }
  await pb.kv.set(`hook:checked:${slugify(record.title)}`, ctx.depth);
  return { ...record, slug: slugify(record.title), status: record.status || "draft" };
}

export async function auditPost(record: any, ctx: any) {
  // After the commit: the record can be read like any other (an after-hook
  // of a write that was undone would find nothing).
  const seen = await pb.collection("posts").getOne(record.id).catch(() => null);
  await pb.collection("audit").create({
    action: seen ? "created" : "created-but-missing",
    post: record.id,
    title: seen ? seen.title : record.title,
    depth: ctx.depth,
  });
}

export function keepTitle(record: any, ctx: any) {
  const old = ctx.oldRecord;
  if (old.status === "published" && record.title !== old.title) {
    throw new Error("published posts keep their title");
  }
}

export function guardDelete(record: any) {
  if (record.status === "published") throw new Error("unpublish before deleting");
  return record;
}

export async function auditDelete(record: any) {
  await pb.collection("audit").create({ action: "deleted", post: record.id, title: record.title });
}

export async function recurse(record: any, ctx: any) {
  await pb.collection("loops").create({ n: (record.n ?? 0) + 1, depth: ctx.depth });
}

export function touch(record: any) {
  return { ...record, status: "touched" };
}

export async function auditNote(record: any) {
  await pb.collection("audit").create({ action: "created", post: record.id });
}

export function spin() {
  for (;;) {}
}

export async function POST(req: Request): Promise<Response> {
  const a = await req.json();
  try {
    if (a.op === "create") {
      return Response.json({ ok: await pb.collection(a.collection).create(a.data) });
    }
    if (a.op === "txCreate") {
      let created: any = null;
      await pb.tx(async (tx: any) => {
        created = await tx.collection("posts").create(a.data);
        if (a.fail) throw new Error("changed my mind");
      });
      return Response.json({ ok: created });
    }
    if (a.op === "txCatch") {
      // A refused create inside a transaction that goes on and commits:
      // what the refused create's hook wrote must not commit with it.
      let refused = "";
      let kept: any = null;
      await pb.tx(async (tx: any) => {
        try {
          await tx.collection("posts").create({ title: "reject-after-write" });
        } catch (e: any) {
          refused = String(e.message);
        }
        kept = await tx.collection("posts").create({ title: "Kept" });
      });
      return Response.json({ ok: { refused, kept } });
    }
    throw new Error(`unknown op ${a.op}`);
  } catch (e: any) {
    return Response.json({ error: { status: e.status ?? null, message: String(e.message) } });
  }
}

export async function GET(req: Request): Promise<Response> {
  const key = new URL(req.url).searchParams.get("kv") ?? "";
  return Response.json({ value: await pb.kv.get(key) });
}
