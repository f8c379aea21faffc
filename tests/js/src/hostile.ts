// Hostile JS: each route misbehaves in its own way; the host must answer
// with an error and carry on (tests/tests/e2e/js.rs, and the hardening
// suite, tests/tests/e2e/hardening.rs, for the routes below `deep`):
//   /flood?n=N[&ignore]   N × pb.kv.get in one invocation; stops at the first
//                         error (→ {calls, refused: {at, code, message}}); with
//                         `ignore` it catches and goes on (the host then stops it)
//   /depth?n=N            recursion that ends, N levels deep
//   /canary?token=T&write leaves T in a global, a module variable and a big
//                         string; without `write`, reports which it finds

let moduleCanary: string | undefined;

export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  switch (url.pathname.split("/").pop()) {
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
    case "depth": {
      // Recursion that ends: n levels deep.
      const n = Number(url.searchParams.get("n") ?? "0");
      const down = (i: number): number => (i >= n ? i : down(i + 1));
      return new Response(String(down(0)));
    }
    case "flood": {
      const n = Number(url.searchParams.get("n") ?? "0");
      const ignore = url.searchParams.has("ignore");
      let calls = 0;
      let refused: { at: number; code: string; message: string } | null = null;
      for (let i = 0; i < n; i++) {
        calls = i + 1;
        try {
          await pb.kv.get("flood");
        } catch (e: any) {
          if (refused === null) refused = { at: i, code: e.code ?? e.name, message: e.message };
          if (!ignore) break;
        }
      }
      return Response.json({ calls, refused });
    }
    case "canary": {
      const token = url.searchParams.get("token") ?? "";
      const g = globalThis as any;
      if (url.searchParams.has("write")) {
        g.__canary = token;
        moduleCanary = token;
        g.__canaryBig = token.repeat(4096);
      }
      return Response.json({
        global: g.__canary === token,
        module: moduleCanary === token,
        big: typeof g.__canaryBig === "string" && g.__canaryBig.includes(token),
      });
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
