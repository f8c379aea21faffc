// A job handler: its payload type is what `pb.jobs.enqueue("resize", …)` accepts anywhere.
import type { JobMeta } from "@pb-serverless/sdk";

export async function resize(payload: { id: string; width: number }, job: JobMeta): Promise<void> {
  const post = await pb.collection("posts").getOne(payload.id);
  await pb.files.save("posts", post.id, { filename: `w${payload.width}-${job.attempt}.txt`, data: post.title });
}
