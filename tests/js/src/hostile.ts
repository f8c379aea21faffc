// Hostile JS: each route misbehaves in its own way; the host must answer
// with an error and carry on.
export async function GET(req: Request): Promise<Response> {
  switch (new URL(req.url).pathname.split("/").pop()) {
    case "spin":
      for (;;) {}
    case "hog": {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array(1 << 16).fill(1));
    }
    case "deep": {
      const down = (n: number): number => down(n + 1) + 1;
      return new Response(String(down(0)));
    }
    case "never":
      // A promise nothing will ever settle.
      return new Promise<Response>(() => {});
    case "not-a-response":
      return { status: 200 } as unknown as Response;
    default:
      return new Response("fine");
  }
}
