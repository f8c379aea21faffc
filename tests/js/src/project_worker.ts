// A worker-only bundle (no HTTP handler) for the project deploy test: its
// exports are called by cron and by jobs bound in the manifest.
export async function nightly(): Promise<void> {}

export async function resize(data: { id: string }): Promise<void> {
  if (!data.id) throw new Error("no id");
}
