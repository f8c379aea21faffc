// The visits example in JavaScript, built with ComponentizeJS (the
// StarlingMonkey engine) against the project's WIT: `GET ?who=NAME` counts
// the visit in pb:kv, stores it as a record of the `visits` collection in
// pb:data, and answers the count and the number of records for that name;
// `GET …/hello` answers without touching either.
//
// The pb:* imports are ES modules named after their WIT interfaces. A
// call whose result is a WIT `error` throws; the variant is the thrown
// value's `payload` (`{ tag: "not-found", val: "…" }`). s64 values are
// BigInts.
//
// Build: npm ci && npm run build     Deploy: pbs deploy
// (TypeScript/JavaScript functions normally go through `pbs build`, which
// runs them on pb-serverless's own engine with the `pb` API; this example
// shows that a standard toolchain works against the same contract.)

import { open } from "pb:kv/store@0.1.0";
import { create, getList } from "pb:data/records@0.1.0";

// `error` variant tag → HTTP status.
const STATUS = { "not-found": 404, invalid: 400, denied: 403, conflict: 409, quota: 429, unavailable: 503 };

function fail(status, message) {
  return new Response(JSON.stringify({ status, message, data: {} }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function visits(request) {
  const url = new URL(request.url);
  if (url.pathname.endsWith("/hello")) {
    return new Response("hello from javascript\n", { headers: { "content-type": "text/plain" } });
  }
  const who = url.searchParams.get("who") ?? "anonymous";
  // Safe inside a filter's quotes.
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(who)) {
    return fail(400, "`who` must be 1 to 40 letters, digits, - or _");
  }
  const n = open(undefined).incr(`visits:${who}`, 1n);
  const record = JSON.parse(create("visits", JSON.stringify({ who, n: Number(n), lang: "javascript" })));
  const page = getList("visits", {
    filter: `who = "${who}" && lang = "javascript"`,
    sort: undefined,
    page: undefined,
    perPage: 1,
    fields: undefined,
    skipTotal: false,
  });
  const body = { lang: "javascript", who, n: Number(n), id: record.id, visits: Number(page.totalItems) };
  return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
}

addEventListener("fetch", (event) =>
  event.respondWith(
    (async () => {
      try {
        return visits(event.request);
      } catch (e) {
        const err = e?.payload;
        if (err?.tag) return fail(STATUS[err.tag] ?? 500, String(err.val));
        console.error(e?.stack ?? String(e));
        return fail(500, "internal error; see the host's log");
      }
    })(),
  ),
);
