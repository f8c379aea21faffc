// The in-engine side of bench/wpt/run.sh: one function per WPT directory,
// whose GET `?test=N&base=URL` runs test file N in the instance that serves
// the request (every request is a fresh instance from the snapshot, so tests
// never see each other's state) and answers its testharness.js results.
//
// The test runs as WPT's "shell" environment runs it: testharness.js, a
// completion callback, the file's `META: script=` dependencies and the test,
// evaluated as one script, after the `GLOBAL` object WPT's server defines
// for `.any.js` tests (as for a worker). `location` is the test's URL on the static server
// that run.sh starts over the checkout (`base`), and relative `fetch` URLs
// resolve against it, as they would in a worker.

const REPORT = `
add_completion_callback(function (tests, status) {
  globalThis.__wptFinish({
    harness: ["OK", "ERROR", "TIMEOUT", "PRECONDITION_FAILED"][status.status] || String(status.status),
    message: status.message || null,
    tests: tests.map(function (t) {
      return { name: t.name, status: ["PASS", "FAIL", "TIMEOUT", "NOTRUN", "PRECONDITION_FAILED"][t.status] || String(t.status), message: t.message || null };
    }),
  });
});
`;

/** The handler for the tests `TESTS` ({path, scripts, long}) whose sources are in `FILES`. */
export function wptHandler(FILES, TESTS) {
  return async function GET(request) {
    const params = new URL(request.url).searchParams;
    if (!params.has("test")) return Response.json({ count: TESTS.length, tests: TESTS.map((t) => t.path) });
    const test = TESTS[Number(params.get("test"))];
    if (test === undefined) return Response.json({ error: "no such test" }, { status: 404 });
    const here = new URL(test.path, `${params.get("base")}/`);
    Object.defineProperty(globalThis, "location", { value: here, configurable: true, writable: true });
    const nativeFetch = globalThis.fetch;
    globalThis.fetch = (input, init) =>
      nativeFetch(typeof input === "string" || input instanceof URL ? new URL(String(input), here).href : input, init);

    // What WPT's server puts in front of a `.any.js` test; this global has
    // no DOM, so it runs as a worker would.
    globalThis.GLOBAL = { isWindow: () => false, isWorker: () => true, isShadowRealm: () => false };
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    globalThis.__wptFinish = finish;
    const missing = test.scripts.filter((p) => FILES[p] === undefined);
    if (missing.length > 0) return Response.json({ path: test.path, harness: "ERROR", message: `missing ${missing.join(", ")}`, tests: [] });
    const source = [FILES["resources/testharness.js"], REPORT, ...test.scripts.map((p) => FILES[p]), FILES[test.path]].join("\n;\n");
    try {
      (0, eval)(source);
    } catch (err) {
      return Response.json({ path: test.path, harness: "ERROR", message: `evaluation: ${err}`, tests: [] });
    }
    // The shell environment has no harness timeout of its own.
    let timer;
    const limit = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ harness: "TIMEOUT", message: "no result in time", tests: [] }), test.long ? 50000 : 20000);
    });
    const result = await Promise.race([finished, limit]);
    clearTimeout(timer);
    return Response.json({ path: test.path, ...result });
  };
}
