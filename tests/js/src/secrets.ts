// pb.secrets from JS, for the suite (tests/tests/e2e/secrets.rs) and the
// benchmark (tests/benches/secrets.rs).
//
// GET routes (every one answers JSON; a failure is {error, code, message}):
//   /get?name=N                 pb.secrets.get(N) → {value}
//   /log?name=N                 reads N and logs it (console.log, console.error,
//                               a span attribute) → {logged}; the host redacts it
//   /fetch?name=N&url=U         fetch(U) with `authorization: Bearer {{secret:N}}`
//                               → {status, body, echoed}: what the guest sees
//   /bench?name=N&n=K           K gets in one invocation → {n, us}
//   /first?name=N               one get (the first of an invocation) → {us}
//   /leak?name=N&marker=M       reads N and leaks it every way a function can: logs
//                               (console.log, console.error, pb.trace.log with a
//                               field), a span attribute, then an uncaught Error
//                               quoting it → the runtime's 500 (the canary test)


async function route(path: string, q: URLSearchParams): Promise<unknown> {
  const name = q.get("name") ?? "API_KEY";
  switch (path) {
    case "get":
      return { value: await pb.secrets.get(name) };
    case "log": {
      const value = await pb.secrets.get(name);
      console.log(`the value is ${value} (marker ${q.get("marker")})`);
      console.error("again:", value, "marker", q.get("marker"));
      await pb.trace.span(`span ${q.get("marker")}`, async (span: any) => {
        span.setAttribute?.("key", value);
      });
      return { logged: value !== null };
    }
    case "fetch": {
      const res = await fetch(q.get("url")!, {
        headers: { authorization: `Bearer {{secret:${name}}}`, "x-plain": "visible" },
      });
      return {
        status: res.status,
        body: await res.text(),
        echoed: res.headers.get("x-echo-authorization"),
      };
    }
    case "bench": {
      const n = Number(q.get("n") ?? "1000");
      const started = performance.now();
      for (let i = 0; i < n; i++) await pb.secrets.get(name);
      return { n, us: (performance.now() - started) * 1000 };
    }
    case "first": {
      const started = performance.now();
      await pb.secrets.get(name);
      return { us: (performance.now() - started) * 1000 };
    }
    default:
      throw new Error(`no route ${path}`);
  }
}

async function leak(q: URLSearchParams): Promise<never> {
  const value = await pb.secrets.get(q.get("name") ?? "API_KEY");
  const marker = q.get("marker");
  console.log(`leak ${marker}: the value is ${value}`);
  console.error(`leak ${marker}: again`, value);
  await pb.trace.log("warn", `leak ${marker}: ${value}`, { secret: value });
  await pb.trace.span(`leak ${marker}`, async (span: any) => {
    span.setAttribute?.("secret", value);
    span.setAttribute?.(`secret ${value}`, "as a key");
  });
  throw new Error(`leak ${marker}: failed with ${value}`);
}

export async function GET(req: Request): Promise<Response> {
  // req.url is `http://host/api/pb_serverless/sec/<route>?query`.
  const [pathname, query = ""] = req.url.split("?", 2);
  const path = pathname.split("/").pop() ?? "";
  // Uncaught on purpose: the client gets the runtime's own 500.
  if (path === "leak") return leak(new URLSearchParams(query));
  try {
    return Response.json(await route(path, new URLSearchParams(query)));
  } catch (e: any) {
    return Response.json({ error: e.name, code: e.code, message: e.message });
  }
}
