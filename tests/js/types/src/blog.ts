// What a user writes, typed by the SDK and this project's pb-env.d.ts: every line must compile.
import type { CronHandler, ExportedHandler, HookHandler, PbError } from "@pb-serverless/sdk";
import type { PostsRecord } from "../pb-env";

interface Draft {
  title: string;
}

export default {
  async fetch(request, env, ctx) {
    ctx.waitUntil(pb.trace.log("info", "request", { url: request.url }));
    const posts = pb.collection("posts");
    const post: PostsRecord = await posts.create({ title: "Hello", status: "draft", tags: ["news"] });
    const page = await posts.getList(1, 20, { filter: 'status = "published"', sort: "-created" });
    const first: string = page.items[0]?.title ?? "";
    const near = await posts.vectorSearch({ field: "embedding", vector: [1, 0, 0], top: 3 });
    const typed = await pb.collection<Draft>("posts").getOne(post.id);
    const id = await pb.tx(async (tx) => {
      const created = await tx.collection("posts").create({ title: "In a transaction" });
      await tx.kv().set("last", created.id, { ttl: 60 });
      await tx.jobs.enqueue("resize", { id: created.id, width: 640 });
      return created.id;
    });
    await pb.jobs.enqueue("resize", { id, width: 320 }, { delay: 1000, dedupeKey: id });
    const count = await pb.kv.incr("requests");
    const cached = await pb.kv.shared.get<{ hits: number }>("cache");
    const key = await pb.secrets.get("OPENAI_API_KEY");
    const hash = await pb.utils.hash(new Uint8Array([1, 2, 3]), "sha512");
    try {
      await posts.getOne("missing");
    } catch (e) {
      const err = e as PbError;
      if (err.code === "not-found" && err.status === 404) console.log("none");
    }
    return Response.json({ first, near: near.map((n) => n.score), typed: typed.title, count, cached, key, hash });
  },
} satisfies ExportedHandler;

export const daily: CronHandler = async (tick) => {
  await pb.kv.set("last_daily", tick.scheduledTime);
};

export const slugify: HookHandler<PostsRecord> = (record, ctx) => {
  if (ctx.event !== "beforeCreate") return;
  return { ...record, title: record.title.trim() };
};
