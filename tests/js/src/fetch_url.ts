// Fetches `?url=` and reports what happened (the outbound-policy tests).
export async function GET(req: Request): Promise<Response> {
  const target = new URL(req.url).searchParams.get("url")!;
  try {
    const res = await fetch(target, { redirect: "follow" });
    return Response.json({ status: res.status, body: await res.text(), redirected: res.redirected });
  } catch (e: any) {
    return Response.json({ error: e.name, message: e.message });
  }
}
