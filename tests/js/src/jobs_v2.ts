// jobs.ts with another process_pdf: the second version of the function in
// the version-pinning test (tests/tests/e2e/jobs.rs).


export { POST, GET, tick } from "./jobs";

export async function process_pdf(data: { fileId: number }, job: { id: string; attempt: number }) {
  await pb.kv.set(`pdf:${data.fileId}`, { id: job.id, attempt: job.attempt, version: "v2" });
}
