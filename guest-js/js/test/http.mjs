// Tests of 40-url.js, 50-http.js, 60-serve.js and 70-pb.js on Node 20:
//
//   node guest-js/js/test/http.mjs
//
// Each runtime is a fresh `vm` context (so none of Node's Web globals are
// there) with a fake `__pbs` bridge and every `NN-*.js` file of the prelude
// evaluated in name order, as guest-js does. The event loop is driven as Rust
// drives it: drain the microtasks, call `__pbsInternal.turn()`, until it
// returns false. The fake host serves canned HTTP responses whose head and
// body chunks become ready after small real delays; `wait` sleeps with
// Atomics.wait.
import { nodeRequestHref, nodeUrlParse, nodeUrlSet } from "./url-host.mjs";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { fileURLToPath } from "node:url";
import { preludeSources } from "./prelude.mjs";

const SOURCES = preludeSources();
const PRELUDE = SOURCES.map(([name]) => name);

// ---------------------------------------------------------------------------
// The fake host

/**
 * Installs `globalThis.__pbs`. Evaluated from its source inside the context,
 * so the arrays, bytes and errors it makes belong to the context's realm;
 * `host` is its only link to the test (records and Node helpers).
 */
function installFakeBridge(host) {
  const slots = new Map(); // token → {kind: "pending" | "body" | "out", …}
  let nextToken = 1;
  const add = (slot) => {
    slots.set(nextToken, slot);
    return nextToken++;
  };
  const bytes = (text) => Uint8Array.from(host.encode(text));
  const text = (data) => host.decode(data, false);
  const pairs = (list) => list.map(([name, value]) => [name, value]);

  /** A body whose chunk i becomes readable `chunkDelay * (i + 1)` ms from now. */
  function bodySlot(chunks, chunkDelay) {
    const start = host.now();
    return { kind: "body", chunks: chunks.map((chunk, i) => ({ bytes: bytes(chunk), readyAt: start + chunkDelay * (i + 1) })) };
  }

  function readyAt(slot) {
    if (slot.kind === "pending") return slot.readyAt;
    if (slot.kind === "body") return slot.chunks.length === 0 ? 0 : slot.chunks[0].readyAt;
    return 0;
  }

  function pbError(code, message) {
    const err = new Error(message);
    err.name = "PbError";
    err.code = code;
    return err;
  }

  /** Canned answers of the `pb` ops the tests use (names and conventions of ../../src/bridge/pb.rs). */
  function pb(op, args) {
    switch (op) {
      case "data/records.get-first-list-item":
        return JSON.stringify({ id: "first", filter: args[1] });
      case "data/records.get-one":
        if (args[1] === "missing") throw pbError("not-found", "no record missing");
        return JSON.stringify({ id: args[1], collectionName: args[0], title: "T", body: "B" });
      case "data/records.transaction.get-one":
        return JSON.stringify({ id: args[2], inTx: args[0] });
      case "data/records.get-list": {
        const { page, perPage } = args[1];
        const total = 5; // five records in all
        const count = Math.max(0, Math.min(perPage, total - (page - 1) * perPage));
        const items = Array.from({ length: count }, (_, i) => JSON.stringify({ id: `r${(page - 1) * perPage + i + 1}` }));
        return { page, perPage, totalItems: total, totalPages: Math.ceil(total / perPage), items };
      }
      case "data/records.create":
      case "data/records.transaction.create":
        return JSON.stringify({ id: "new1", ...JSON.parse(args.at(-1)) });
      case "data/records.update":
        return JSON.stringify({ id: args[1], ...JSON.parse(args[2]) });
      case "data/records.vector-search":
        return [{ record: JSON.stringify({ id: "v1" }), score: 0.9 }];
      case "data/records.begin":
        return 7;
      case "kv/store.open":
        return args[0] === undefined ? 3 : 4;
      case "kv/store.bucket.get#text":
        // As the bridge answers: UTF-8 text as a string, other bytes as bytes.
        if (args[1] === "json") return '{"a":1}';
        if (args[1] === "text") return "not json";
        if (args[1] === "raw") return new Uint8Array([0xff, 0x00]);
        return undefined;
      case "kv/store.bucket.set-if-absent":
      case "kv/store.bucket.compare-and-swap":
      case "kv/store.bucket.delete":
      case "kv/store.bucket.delete-in":
        return true;
      case "kv/store.bucket.incr":
        return 41 + args[2];
      case "kv/store.bucket.list-keys":
        return args[2] === undefined ? { keys: ["a1", "a2"], cursor: "c1" } : { keys: ["a3"], cursor: undefined };
      case "jobs/queue.enqueue":
      case "jobs/queue.enqueue-in":
        return "job1";
      case "jobs/queue.status":
        return { id: args[0], name: "mail", state: "queued", attempts: 0, maxAttempts: 5, lastError: undefined, createdMs: 1, updatedMs: 2 };
      case "files/storage.read":
        return bytes("file body");
      case "files/storage.save":
        return { filename: args[2], size: args[3].length, modifiedMs: 5 };
      case "secrets/store.get":
        return args[0] === "KEY" ? "s3cret" : undefined;
      case "trace/tracing.span.new":
        return 9;
      case "trace/tracing.trace-id":
        return "0af7651916cd43dd8448eb211c80319c";
      case "utils/helpers.hash":
        return "ab".repeat(32);
      default:
        return undefined;
    }
  }

  globalThis.__pbs = {
    now: () => host.now(),
    wait(tokens, timeoutMs) {
      const gone = tokens.filter((t) => !slots.has(t));
      if (gone.length > 0) return gone; // a closed token counts as ready, as in Rust
      const now = host.now();
      let until = Math.min(...tokens.map((t) => readyAt(slots.get(t))));
      if (timeoutMs >= 0) until = Math.min(until, now + timeoutMs);
      if (until === Infinity) throw new Error("fake host: wait would block forever");
      if (until > now) host.sleep(until - now);
      const after = host.now();
      return tokens.filter((t) => readyAt(slots.get(t)) <= after);
    },
    randomBytes: (n) => Uint8Array.from(host.randomBytes(n)),
    urlParse(input, base) {
      const parts = host.urlParse(input, base);
      return parts === null ? null : Array.from(parts);
    },
    urlSet: (href, which, value) => Array.from(host.urlSet(href, which, value)),
    requestHref: (input) => host.requestHref(input),
    utf8Encode: (s) => bytes(s),
    utf8Decode(data, fatal) {
      try {
        return host.decode(data, fatal);
      } catch (err) {
        throw new TypeError(err.message);
      }
    },
    log: (level, message) => host.logs.push([level, message]),
    fetchStart(method, url, headers, body) {
      host.requests.push({ method, url, headers: pairs(headers), body: body === null ? null : text(body) });
      const route = host.routes[url];
      if (route === undefined) throw new TypeError(`the host refused the request to ${url}`);
      return add({ kind: "pending", readyAt: host.now() + (route.delay ?? 2), route });
    },
    fetchResult(token) {
      const slot = slots.get(token);
      if (slot?.kind !== "pending") throw new TypeError("fetch: unknown or finished request");
      if (host.now() < slot.readyAt) return null;
      slots.delete(token);
      const { status = 200, headers = [], chunks = [], chunkDelay = 0, fail } = slot.route;
      if (fail) throw new TypeError(fail);
      return { status, headers: pairs(headers), body: add(bodySlot(chunks, chunkDelay)) };
    },
    bodyRead(token, max) {
      const slot = slots.get(token);
      if (slot === undefined) return null;
      if (slot.chunks.length === 0) {
        slots.delete(token);
        return null;
      }
      const first = slot.chunks[0];
      if (first.readyAt > host.now()) return undefined;
      if (first.bytes.length <= max) return slot.chunks.shift().bytes;
      const part = first.bytes.slice(0, max);
      first.bytes = first.bytes.slice(max);
      return part;
    },
    close(token) {
      if (slots.delete(token)) host.closed.push(token);
    },
    respond(status, headers) {
      if (host.response !== null) throw new TypeError("the response was already sent");
      host.response = { status, headers: pairs(headers), chunks: [], finished: false };
      return add({ kind: "out" });
    },
    write(token, data) {
      if (!slots.has(token)) throw new TypeError("the response body is closed");
      host.response.chunks.push({ text: text(data), at: host.now() });
    },
    finish(token) {
      slots.delete(token);
      host.response.finished = true;
    },
    pb(op, args) {
      const replacer = (_, v) => (v instanceof Uint8Array ? `bytes:${text(v)}` : v);
      host.pbCalls.push([op, JSON.parse(JSON.stringify(args, replacer))]);
      return pb(op, args);
    },
  };

  return {
    /** An incoming request body, as Rust hands it to `serve`. */
    makeBody: (chunks, chunkDelay) => add(bodySlot(chunks, chunkDelay)),
  };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** A fresh context with the fake bridge and the whole prelude. */
function createRuntime(routes = {}) {
  const host = {
    routes,
    requests: [],
    closed: [],
    logs: [],
    pbCalls: [],
    response: null,
    now: () => performance.now(),
    sleep: (ms) => Atomics.wait(sleeper, 0, 0, ms),
    encode: (s) => Buffer.from(s.toWellFormed(), "utf8"),
    decode: (data, fatal) => new TextDecoder("utf-8", { fatal, ignoreBOM: true }).decode(data),
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    urlParse: nodeUrlParse,
    urlSet: nodeUrlSet,
    requestHref: nodeRequestHref,
  };
  const context = vm.createContext({});
  const fake = vm.runInContext(`(${installFakeBridge})`, context)(host);
  for (const [name, source] of SOURCES) vm.runInContext(source, context, { filename: name });
  const internal = vm.runInContext("__pbsInternal", context);

  /** Rust's loop: drain the microtasks (Node does before setImmediate), then one turn. */
  async function drive() {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!internal.turn()) return;
    }
  }

  return {
    host,
    fake,
    internal,
    global: (name) => vm.runInContext(name, context),

    /** Runs `fn` (source evaluated in the context) to completion on the loop. */
    async run(fn) {
      const outcome = { settled: false };
      vm.runInContext(`(${fn})`, context)().then(
        (value) => Object.assign(outcome, { settled: true, value }),
        (error) => Object.assign(outcome, { settled: true, error }),
      );
      await drive();
      assert.ok(outcome.settled, "the promise never settled");
      if ("error" in outcome) throw outcome.error;
      return outcome.value;
    },

    /** One HTTP invocation of `moduleSource` (an object expression standing for the namespace). */
    async serve(moduleSource, request) {
      internal.module = vm.runInContext(`(${moduleSource})`, context);
      internal.serve({ headers: [], body: null, ...request });
      await drive();
      return host.response;
    },
  };
}

/** Plain JSON data, so values from the context compare with deepStrictEqual. */
const plain = (value) => JSON.parse(JSON.stringify(value));
const eq = (actual, expected, message) => assert.deepStrictEqual(plain(actual), expected, message);
const bodyText = (response) => response.chunks.map((c) => c.text).join("");

// ---------------------------------------------------------------------------
// Test runner

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

// ---------------------------------------------------------------------------
// URL

const URL_TABLE = [
  // [input, base, expected href]
  ["../x?y#z", "http://a/b/c/d;p?q", "http://a/b/x?y#z"],
  ["//g", "http://a/b/c/d;p?q", "http://g/"],
  ["?y", "http://a/b/c/d;p?q", "http://a/b/c/d;p?y"],
  ["#s", "http://a/b/c/d;p?q", "http://a/b/c/d;p?q#s"],
  ["g;x?y#s", "http://a/b/c/d;p?q", "http://a/b/c/g;x?y#s"],
  ["../../../g", "http://a/b/c/d;p?q", "http://a/g"],
  ["/./g", "http://a/b/c/d;p?q", "http://a/g"],
  ["/v1/chat", "https://api.openai.com/v1/", "https://api.openai.com/v1/chat"],
  ["chat", "https://api.openai.com/v1/", "https://api.openai.com/v1/chat"],
  ["http://example.com/a/b/../c/./d", undefined, "http://example.com/a/c/d"],
  ["http://ex.com/%2e%2E/x", undefined, "http://ex.com/x"],
  ["HTTP://EXAMPLE.COM:80/", undefined, "http://example.com/"],
  ["https://ex.com:443/p", undefined, "https://ex.com/p"],
  ["ws://ex.com:80/", undefined, "ws://ex.com/"],
  ["http://ex.com:8080/", undefined, "http://ex.com:8080/"],
  ["http://127.1/", undefined, "http://127.0.0.1/"],
  ["http://0x7f.1/", undefined, "http://127.0.0.1/"],
  ["http://2130706433/", undefined, "http://127.0.0.1/"],
  ["http://0177.0.0.1/", undefined, "http://127.0.0.1/"],
  ["http://0x7F000001./", undefined, "http://127.0.0.1/"],
  ["http://[2001:DB8:0:0:1:0:0:1]:8080/", undefined, "http://[2001:db8::1:0:0:1]:8080/"],
  ["http://[::1]/", undefined, "http://[::1]/"],
  ["http://[1:0:0:2::3:0]/", undefined, "http://[1::2:0:0:3:0]/"],
  ["http://[::ffff:192.168.1.1]/", undefined, "http://[::ffff:c0a8:101]/"],
  ["http://ex.com/a b?c d#e f", undefined, "http://ex.com/a%20b?c%20d#e%20f"],
  ["http://ex.com/ä?ä#ä", undefined, "http://ex.com/%C3%A4?%C3%A4#%C3%A4"],
  ["https://user:pa ss@ex.com/", undefined, "https://user:pa%20ss@ex.com/"],
  ["http://ex.com/?'q'", undefined, "http://ex.com/?%27q%27"],
  ["foo://ex.com/?'q'", undefined, "foo://ex.com/?'q'"],
  ["http://%41.com/", undefined, "http://a.com/"],
  ["http://münchen.de/", undefined, "http://xn--mnchen-3ya.de/"],
  ["http://ex.com\\a\\b", undefined, "http://ex.com/a/b"],
  ["  http://ex.com/\t\n  ", undefined, "http://ex.com/"],
  ["mailto:Joe@Example.COM", undefined, "mailto:Joe@Example.COM"],
  ["data:text/plain,hello world", undefined, "data:text/plain,hello world"],
  ["file:///C:/x/../y", undefined, "file:///C:/y"],
  ["file://localhost/etc/passwd", undefined, "file:///etc/passwd"],
];

const INVALID_URLS = [
  ["not a url"], ["http://"], ["http://[::1/"], ["http://ex.com:99999/"], ["http://256.1.1.1/"], ["http://1.2.3.4.5/"],
  ["http://a b/"], ["http://0x100000000/"], ["http://[1::2::3]/"], ["x", "not a base"], ["x", "mailto:a"], ["a", "about:blank"],
];

test("URL: parsing table", () => {
  const URL = createRuntime().global("URL");
  for (const [input, base, href] of URL_TABLE) assert.equal(new URL(input, base).href, href, `${input} against ${base}`);
});

test("URL: invalid URLs throw TypeError", () => {
  const rt = createRuntime();
  const [URL, TypeErrorInContext] = [rt.global("URL"), rt.global("TypeError")];
  for (const [input, base] of INVALID_URLS) {
    assert.throws(() => new URL(input, base), (err) => err instanceof TypeErrorInContext && /^Invalid URL: /.test(err.message), input);
    assert.equal(URL.canParse(input, base), false, input);
    assert.equal(URL.parse(input, base), null, input);
  }
  assert.equal(URL.canParse("https://ex.com"), true);
});

test("URL: components agree with Node's URL", () => {
  const URL = createRuntime().global("URL");
  const props = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];
  const inputs = [
    ...URL_TABLE.map(([input, base]) => [input, base]),
    ["https://a:b@Ex.COM:0443/p/../q?x=1&y=%20#frag"], ["blob:https://a.com/uuid"], ["foo:/a/../b"], ["web+demo:/.//not-a-host/"],
    ["sc://ñ/"], ["http://例え.テスト/"], ["http://ex.com/{}|`"], ["file:c:\\foo\\bar.html", "file:///tmp/mock/path"], ["#x", "mailto:a"],
  ];
  for (const [input, base] of inputs) {
    const expected = new globalThis.URL(input, base);
    const actual = new URL(input, base);
    for (const prop of props) assert.equal(actual[prop], expected[prop], `${prop} of ${input}`);
  }
});

test("URL: setters agree with Node's URL", () => {
  const URL = createRuntime().global("URL");
  const cases = [
    ["http://a.com/p?q#h", "protocol", "https"], ["http://a.com/p", "protocol", "foo"], ["http://a.com:443/p", "protocol", "https:"],
    ["http://a.com/p", "host", "B.com:8080"], ["http://a.com/p", "host", "b.com:abc"], ["http://a.com:1/p", "hostname", "c.com"],
    ["http://a.com/p", "port", "8080"], ["http://a.com:8080/p", "port", ""], ["http://a.com/p", "port", "80"], ["http://a.com/p", "port", "99999"],
    ["http://a.com/p", "pathname", "/x y/../z?#"], ["mailto:x", "pathname", "y"], ["http://a.com/p?x", "search", "a=1&b=2 3#"],
    ["http://a.com/p?x", "search", ""], ["http://a.com/p#x", "hash", "#y z"], ["http://a.com/p#x", "hash", ""],
    ["http://a.com/p", "username", "us er@"], ["http://a.com/p", "password", "p:w"], ["file:///x", "username", "u"],
    ["http://a.com/p", "href", "https://b.com/q?z=1"],
  ];
  for (const [input, prop, value] of cases) {
    const expected = new globalThis.URL(input);
    const actual = new URL(input);
    expected[prop] = value;
    actual[prop] = value;
    assert.equal(actual.href, expected.href, `${input}: ${prop} = ${value}`);
  }
  const url = new URL("http://a.com/");
  assert.throws(() => { url.href = "nope"; }, /Invalid URL/);
});

test("URL: searchParams is live both ways", () => {
  const URL = createRuntime().global("URL");
  const url = new URL("http://a.com/?a=1&b=2&a=3");
  const params = url.searchParams;
  assert.equal(params.get("a"), "1");
  eq(params.getAll("a"), ["1", "3"]);
  params.append("c", "x y&z");
  params.delete("a", "3");
  assert.equal(url.href, "http://a.com/?a=1&b=2&c=x+y%26z");
  url.search = "?z=9";
  assert.equal(params.get("z"), "9");
  assert.equal(params.has("a"), false);
  assert.equal(params.size, 1);
  params.set("z", "é");
  assert.equal(url.search, "?z=%C3%A9");
  params.delete("z");
  assert.equal(url.href, "http://a.com/");
  assert.equal(url.searchParams, params);
  url.href = "http://b.com/?k=v";
  assert.equal(params.get("k"), "v");
  assert.equal(JSON.stringify({ url }), '{"url":"http://b.com/?k=v"}');
});

test("URLSearchParams: init forms, sort, serialization", () => {
  const rt = createRuntime();
  const [URLSearchParams, TypeError] = [rt.global("URLSearchParams"), rt.global("TypeError")];
  assert.equal(String(new URLSearchParams("?q=%zz+%41&r")), "q=%25zz+A&r=");
  assert.equal(String(new URLSearchParams({ a: "1", b: "x+y" })), "a=1&b=x%2By");
  assert.equal(String(new URLSearchParams([["a", "b"], ["c", "~!'()*"]])), "a=b&c=%7E%21%27%28%29*");
  assert.throws(() => new URLSearchParams([["a"]]), TypeError);
  const params = new URLSearchParams("b=2&a=1&b=1&a=0");
  params.sort();
  assert.equal(params.toString(), "a=1&a=0&b=2&b=1");
  eq([...params.keys()], ["a", "a", "b", "b"]);
  eq([...params.values()], ["1", "0", "2", "1"]);
  eq([...params], [["a", "1"], ["a", "0"], ["b", "2"], ["b", "1"]]);
  const seen = [];
  params.forEach((value, name) => seen.push(name + value));
  eq(seen, ["a1", "a0", "b2", "b1"]);
  assert.equal(params.has("b", "1"), true);
  assert.equal(params.has("b", "3"), false);
  assert.equal(Object.prototype.toString.call(params), "[object URLSearchParams]");
});

// ---------------------------------------------------------------------------
// Headers, Blob, FormData, Request, Response

test("Headers: case-insensitive, combined, sorted, validated", () => {
  const rt = createRuntime();
  const [Headers, TypeError] = [rt.global("Headers"), rt.global("TypeError")];
  const headers = new Headers({ "Content-Type": "text/plain", "X-B": " 1 " });
  headers.append("x-b", "2");
  headers.append("Set-Cookie", "a=1");
  headers.append("set-cookie", "b=2");
  assert.equal(headers.get("CONTENT-TYPE"), "text/plain");
  assert.equal(headers.get("x-b"), "1, 2");
  assert.equal(headers.get("missing"), null);
  eq(headers.getSetCookie(), ["a=1", "b=2"]);
  eq([...headers], [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-b", "1, 2"]]);
  headers.set("X-b", "3");
  assert.equal(headers.get("x-b"), "3");
  headers.delete("SET-COOKIE");
  assert.equal(headers.has("set-cookie"), false);
  eq([...new Headers([["b", "1"], ["a", "2"]]).keys()], ["a", "b"]);
  eq([...new Headers(headers)], [...headers].map(plain));
  assert.throws(() => headers.append("bad name", "x"), TypeError);
  assert.throws(() => headers.append("x", "a\nb"), TypeError);
  assert.throws(() => headers.append("x", "€"), TypeError);
  assert.throws(() => new Headers([["a", "b", "c"]]), TypeError);
});

test("Blob and File", () => {
  const rt = createRuntime();
  return rt.run(async () => {
    const blob = new Blob(["héllo ", new Uint8Array([119, 111]), new Blob(["rld"])], { type: "Text/Plain" });
    const file = new File([blob], "a.txt", { lastModified: 42 });
    const slice = blob.slice(-3, undefined, "x/y");
    const reader = blob.stream().getReader();
    const first = await reader.read();
    return {
      size: blob.size,
      type: blob.type,
      text: await blob.text(),
      bytes: (await blob.bytes()).length,
      buffer: (await blob.arrayBuffer()).byteLength,
      slice: [await slice.text(), slice.type],
      file: [file.name, file.lastModified, file.size, file instanceof Blob, Object.prototype.toString.call(file)],
      stream: first.value.length,
    };
  }).then((result) =>
    eq(result, {
      size: 12,
      type: "text/plain",
      text: "héllo world",
      bytes: 12,
      buffer: 12,
      slice: ["rld", "x/y"],
      file: ["a.txt", 42, 12, true, "[object File]"],
      stream: 12,
    }),
  );
});

test("Request: URL, method, headers, body, clone", async () => {
  const rt = createRuntime();
  const result = await rt.run(async () => {
    const request = new Request("https://Ex.com/a/../b?x#f", {
      method: "post",
      headers: { "X-A": "1" },
      body: new URLSearchParams({ q: "a b" }),
    });
    const clone = request.clone();
    const errors = [];
    for (const make of [
      () => new Request("/relative"),
      () => new Request("https://u:p@ex.com/"),
      () => new Request("https://ex.com/", { body: "x" }),
      () => new Request("https://ex.com/", { method: "CONNECT" }),
      () => new Request("https://ex.com/", { redirect: "nope" }),
    ]) {
      try {
        make();
        errors.push("no error");
      } catch (err) {
        errors.push(err.name);
      }
    }
    const text = await request.text();
    let second;
    try {
      await request.text();
    } catch (err) {
      second = err.name;
    }
    const copy = new Request(clone, { headers: { "x-b": "2" } });
    return {
      url: request.url,
      method: request.method,
      patch: new Request("https://ex.com/", { method: "patch" }).method,
      type: request.headers.get("content-type"),
      text,
      bodyUsed: request.bodyUsed,
      second,
      cloneText: await copy.text(),
      cloneUsed: clone.bodyUsed,
      copyHeaders: [...copy.headers],
      errors,
      signal: request.signal instanceof AbortSignal && !request.signal.aborted,
      redirect: request.redirect,
      json: await new Request("https://ex.com/", { method: "PUT", body: '{"a":1}' }).json(),
    };
  });
  eq(result, {
    url: "https://ex.com/b?x#f",
    method: "POST",
    patch: "patch",
    type: "application/x-www-form-urlencoded;charset=UTF-8",
    text: "q=a+b",
    bodyUsed: true,
    second: "TypeError",
    cloneText: "q=a+b",
    cloneUsed: true,
    copyHeaders: [["x-b", "2"]],
    errors: ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError"],
    signal: true,
    redirect: "follow",
    json: { a: 1 },
  });
});

test("Response: body methods, clone (tee), statics", async () => {
  const rt = createRuntime();
  const result = await rt.run(async () => {
    const streamed = new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("chunk-1 "));
          controller.enqueue(new TextEncoder().encode("chunk-2"));
          controller.close();
        },
      }),
    );
    const tee = streamed.clone();
    const json = Response.json({ ok: true }, { status: 201, headers: { "x-a": "1" } });
    const redirect = Response.redirect("https://ex.com/next", 307);
    const error = Response.error();
    const bytes = new Response(new Uint8Array([1, 2, 3]).buffer);
    const checks = [];
    for (const make of [
      () => new Response("x", { status: 204 }),
      () => new Response("x", { status: 99 }),
      () => Response.redirect("https://ex.com/", 200),
      () => Response.json(undefined),
    ]) {
      try {
        make();
        checks.push("no error");
      } catch (err) {
        checks.push(err.name);
      }
    }
    const body = new Response("abc").body;
    const { value } = await body.getReader().read();
    return {
      streamed: await streamed.text(),
      tee: await tee.text(),
      json: [json.status, json.ok, json.headers.get("content-type"), json.headers.get("x-a"), await json.json()],
      redirect: [redirect.status, redirect.headers.get("location"), redirect.body],
      error: [error.type, error.status, error.ok],
      bytes: [...(await bytes.bytes())],
      buffer: (await new Response("héllo").arrayBuffer()).byteLength,
      blob: await (await new Response("x", { headers: { "content-type": "text/x" } }).blob()).type,
      plain: new Response("x").headers.get("content-type"),
      empty: [await new Response(null).text(), new Response().body],
      checks,
      read: [...value],
      defaults: [new Response().status, new Response().statusText, new Response().type, new Response().url, new Response().redirected],
    };
  });
  eq(result, {
    streamed: "chunk-1 chunk-2",
    tee: "chunk-1 chunk-2",
    json: [201, true, "application/json", "1", { ok: true }],
    redirect: [307, "https://ex.com/next", null],
    error: ["error", 0, false],
    bytes: [1, 2, 3],
    buffer: 6,
    blob: "text/x",
    plain: "text/plain;charset=UTF-8",
    empty: ["", null],
    checks: ["TypeError", "RangeError", "RangeError", "TypeError"],
    read: [97, 98, 99],
    defaults: [200, "", "default", "", false],
  });
});

test("FormData: multipart and urlencoded bodies round-trip", async () => {
  const rt = createRuntime();
  const result = await rt.run(async () => {
    const form = new FormData();
    form.append("name", "Ada\nLovelace");
    form.append("file", new Blob(["file contents"], { type: "text/csv" }), "data.csv");
    form.append("tag", "a");
    form.append("tag", "b");
    form.set("name", "Ada");
    const request = new Request("https://ex.com/", { method: "POST", body: form });
    const type = request.headers.get("content-type");
    const parsed = await request.clone().formData();
    const raw = await request.text();
    const file = parsed.get("file");
    const urlencoded = await new Response("a=1&b=x+y", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
    }).formData();
    return {
      multipart: /^multipart\/form-data; boundary=-+pbsFormBoundary[0-9a-f]+$/.test(type),
      raw: raw.includes('Content-Disposition: form-data; name="file"; filename="data.csv"\r\nContent-Type: text/csv'),
      entries: [...parsed].map(([k, v]) => [k, typeof v === "string" ? v : v.name]),
      file: [file instanceof File, file.type, await file.text()],
      tags: parsed.getAll("tag"),
      urlencoded: [...urlencoded],
    };
  });
  eq(result, {
    multipart: true,
    raw: true,
    entries: [["name", "Ada"], ["file", "data.csv"], ["tag", "a"], ["tag", "b"]],
    file: [true, "text/csv", "file contents"],
    tags: ["a", "b"],
    urlencoded: [["a", "1"], ["b", "x y"]],
  });
});

// ---------------------------------------------------------------------------
// fetch

const CHUNKED = {
  status: 200,
  headers: [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]],
  chunks: ["one ", "two ", "three"],
  chunkDelay: 15,
};

test("fetch: the body streams chunk by chunk as it arrives", async () => {
  const rt = createRuntime({ "https://api.test/stream": CHUNKED });
  const result = await rt.run(async () => {
    const response = await fetch("https://api.test/stream", { headers: { authorization: "Bearer k" } });
    const reader = response.body.getReader();
    const chunks = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push([new TextDecoder().decode(value), performance.now()]);
    }
    return {
      status: response.status,
      ok: response.ok,
      url: response.url,
      type: response.headers.get("content-type"),
      cookies: response.headers.getSetCookie(),
      chunks: chunks.map(([text]) => text),
      spread: chunks.at(-1)[1] - chunks[0][1],
    };
  });
  eq(result.chunks, ["one ", "two ", "three"]);
  assert.ok(result.spread >= 20, `the chunks arrived ${result.spread} ms apart: they were not streamed`);
  eq([result.status, result.ok, result.url, result.type, result.cookies], [200, true, "https://api.test/stream", "text/plain", ["a=1", "b=2"]]);
  const [request] = rt.host.requests;
  eq(request, { method: "GET", url: "https://api.test/stream", headers: [["accept", "*/*"], ["authorization", "Bearer k"]], body: null });
});

test("fetch: request bodies are sent whole, streams read first", async () => {
  const rt = createRuntime({ "https://api.test/echo": { status: 201, chunks: ["{\"id\":1}"] } });
  const result = await rt.run(async () => {
    const body = new ReadableStream({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        controller.enqueue(new TextEncoder().encode("streamed"));
        controller.close();
      },
    });
    const first = await fetch("https://api.test/echo", { method: "POST", body, duplex: "half" });
    const second = await fetch(new Request("https://api.test/echo", { method: "POST", body: JSON.stringify({ a: 1 }) }));
    return [await first.json(), second.status, await second.text()];
  });
  eq(result, [{ id: 1 }, 201, '{"id":1}']);
  eq(rt.host.requests.map((r) => [r.method, r.body, r.headers.find(([n]) => n === "content-type")?.[1] ?? null]), [
    ["POST", "streamed", null],
    ["POST", '{"a":1}', "text/plain;charset=UTF-8"],
  ]);
});

test("fetch: redirects are followed; manual and error honoured", async () => {
  const rt = createRuntime({
    "https://a.test/old": { status: 301, headers: [["location", "/new"]] },
    "https://a.test/new": { status: 200, chunks: ["moved here"] },
    "https://a.test/form": { status: 303, headers: [["location", "https://b.test/done"]] },
    "https://b.test/done": { status: 200, chunks: ["done"] },
    "https://a.test/keep": { status: 307, headers: [["location", "/new"]] },
    "https://a.test/loop": { status: 302, headers: [["location", "/loop"]] },
  });
  const result = await rt.run(async () => {
    const outcome = async (promise) => {
      try {
        const response = await promise;
        return [response.status, response.redirected, response.url, await response.text()];
      } catch (err) {
        return [err.name, err.message];
      }
    };
    return {
      followed: await outcome(fetch("https://a.test/old")),
      see_other: await outcome(fetch("https://a.test/form", { method: "POST", body: "x=1", headers: { authorization: "k" } })),
      temporary: await outcome(fetch("https://a.test/keep", { method: "PUT", body: "same body" })),
      manual: await outcome(fetch("https://a.test/old", { redirect: "manual" }).then((r) => {
        if (r.headers.get("location") !== "/new") throw new Error("no location");
        return r;
      })),
      error: await outcome(fetch("https://a.test/old", { redirect: "error" })),
      loop: await outcome(fetch("https://a.test/loop")),
    };
  });
  eq(result.followed, [200, true, "https://a.test/new", "moved here"]);
  eq(result.see_other, [200, true, "https://b.test/done", "done"]);
  eq(result.temporary, [200, true, "https://a.test/new", "moved here"]);
  eq(result.manual, [301, false, "https://a.test/old", ""]);
  assert.equal(result.error[0], "TypeError");
  assert.match(result.loop[1], /more than 20 redirects/);
  const hops = rt.host.requests.map((r) => [r.method, r.url, r.body, r.headers.map(([n]) => n).join(",")]);
  eq(hops.slice(0, 6), [
    ["GET", "https://a.test/old", null, "accept"],
    ["GET", "https://a.test/new", null, "accept"],
    ["POST", "https://a.test/form", "x=1", "accept,authorization,content-type"],
    ["GET", "https://b.test/done", null, "accept"], // 303: GET, no body; another origin: no authorization
    ["PUT", "https://a.test/keep", "same body", "accept,content-type"],
    ["PUT", "https://a.test/new", "same body", "accept,content-type"], // 307 keeps method and body
  ]);
  assert.equal(rt.host.requests.filter((r) => r.url === "https://a.test/loop").length, 21);
});

test("fetch: abort before, during the request and during the body", async () => {
  const rt = createRuntime({
    "https://slow.test/head": { delay: 300, chunks: ["never"] },
    "https://slow.test/body": { chunks: ["first", "second"], chunkDelay: 300 },
  });
  const started = performance.now();
  const result = await rt.run(async () => {
    const errorOf = async (promise) => promise.then(() => "resolved", (err) => `${err.name}: ${err.message}`);
    const before = await errorOf(fetch("https://slow.test/head", { signal: AbortSignal.abort(new Error("early")) }));

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 10);
    const during = await errorOf(fetch("https://slow.test/head", { signal: controller.signal }));

    const bodyController = new AbortController();
    const response = await fetch("https://slow.test/body", { signal: bodyController.signal });
    const reader = response.body.getReader();
    const pending = reader.read();
    setTimeout(() => bodyController.abort(new TypeError("stop reading")), 10);
    const body = await errorOf(pending);

    const refused = await errorOf(fetch("https://elsewhere.test/"));
    return { before, during, body, refused };
  });
  eq(result, {
    before: "Error: early",
    during: "AbortError: This operation was aborted",
    body: "TypeError: stop reading",
    refused: "TypeError: the host refused the request to https://elsewhere.test/",
  });
  assert.ok(performance.now() - started < 250, "the aborts waited for the slow host");
  assert.equal(rt.host.requests.length, 3); // the early abort never reached the host
  assert.equal(rt.host.closed.length, 2, "both aborted tokens were closed");
});

test("fetch: host failures reject with TypeError and keep the cause", async () => {
  const rt = createRuntime({ "https://down.test/": { fail: "fetch failed: connection refused" } });
  const result = await rt.run(async () => {
    try {
      await fetch("https://down.test/");
      return "resolved";
    } catch (err) {
      return [err instanceof TypeError, err.message, err.cause instanceof TypeError];
    }
  });
  eq(result, [true, "fetch failed: connection refused", true]);
});

// ---------------------------------------------------------------------------
// serve

test("serve: export default { fetch } with a streamed request body", async () => {
  const rt = createRuntime();
  const body = rt.fake.makeBody(["hello ", "world"], 5);
  const response = await rt.serve(
    `{ default: { async fetch(request, env, ctx) {
        const text = await request.text();
        ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 5)));
        return new Response(request.method + " " + new URL(request.url).pathname + " " + text + " " + request.headers.get("x-a"),
          { status: 202, headers: { "x-b": "2" } });
      } } }`,
    { method: "POST", url: "http://fn.test/echo", headers: [["X-A", "1"]], body },
  );
  eq([response.status, response.finished, bodyText(response)], [202, true, "POST /echo hello world 1"]);
  // In the order they were set (the body's type last), as Node sends them.
  eq(response.headers, [["x-b", "2"], ["content-type", "text/plain;charset=UTF-8"]]);
});

test("serve: a proxied fetch response streams through without hop-by-hop headers", async () => {
  const rt = createRuntime({
    "https://api.test/stream": { ...CHUNKED, headers: [...CHUNKED.headers, ["transfer-encoding", "chunked"], ["connection", "keep-alive"]] },
  });
  const response = await rt.serve(`{ GET: () => fetch("https://api.test/stream") }`, { method: "GET", url: "http://fn.test/" });
  eq(response.chunks.map((c) => c.text), ["one ", "two ", "three"]);
  eq(response.headers, [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
});

test("serve: method exports, HEAD falls back to GET, 405 lists the methods", async () => {
  const mod = `{
    GET: (request) => Response.json({ method: request.method }),
    POST: async (request) => new Response("created " + (await request.json()).name, { status: 201 }),
    helper: () => new Response("must not be reachable"),
  }`;
  const get = await createRuntime().serve(mod, { method: "GET", url: "http://fn.test/" });
  eq([get.status, bodyText(get)], [200, '{"method":"GET"}']);

  const rt = createRuntime();
  const post = await rt.serve(mod, { method: "POST", url: "http://fn.test/", body: rt.fake.makeBody(['{"name":"x"}'], 1) });
  eq([post.status, bodyText(post)], [201, "created x"]);

  const head = await createRuntime().serve(mod, { method: "HEAD", url: "http://fn.test/" });
  eq([head.status, head.chunks.length, head.finished], [200, 0, true]);

  const put = await createRuntime().serve(mod, { method: "PUT", url: "http://fn.test/" });
  eq([put.status, put.headers.find(([n]) => n === "allow")?.[1], JSON.parse(bodyText(put)).status], [405, "GET, HEAD, POST", 405]);

  const other = await createRuntime().serve(mod, { method: "helper", url: "http://fn.test/" });
  assert.equal(other.status, 405);
});

test("serve: a thrown error and a non-Response become 500 JSON", async () => {
  const rt = createRuntime();
  const thrown = await rt.serve(`{ GET() { throw new RangeError("out of range"); } }`, { method: "GET", url: "http://fn.test/x" });
  eq([thrown.status, thrown.headers, JSON.parse(bodyText(thrown))], [
    500,
    [["content-type", "application/json"]],
    { status: 500, message: "RangeError: out of range", data: {} },
  ]);
  const [level, message] = rt.host.logs.at(-1);
  assert.equal(level, "error");
  assert.match(message, /^GET http:\/\/fn\.test\/x: RangeError: out of range/);

  const wrong = await createRuntime().serve(`{ default: { fetch: async () => ({ hello: 1 }) } }`, { method: "GET", url: "http://fn.test/" });
  eq([wrong.status, JSON.parse(bodyText(wrong)).message], [500, "TypeError: the GET handler returned object, not a Response"]);
});

test("serve: secret values read are redacted from the 500 body and a hook's refusal", async () => {
  const rt = createRuntime();
  const thrown = await rt.serve(
    `{ async GET() { const v = await pb.secrets.get("KEY"); throw new Error("bad key " + v + "!" + v); } }`,
    { method: "GET", url: "http://fn.test/x" },
  );
  eq([thrown.status, JSON.parse(bodyText(thrown)).message], [500, "Error: bad key [redacted]![redacted]"]);
  // A secret never read is not known to the runtime: only what was read is redacted.
  const unread = await createRuntime().serve(`{ GET() { throw new Error("s3cret"); } }`, { method: "GET", url: "http://fn.test/" });
  eq(JSON.parse(bodyText(unread)).message, "Error: s3cret");

  // A record hook's refusal goes to the client too.
  const hooks = createRuntime();
  hooks.internal.module = hooks.global(`({ async guard() { throw new Error("no: " + (await pb.secrets.get("KEY"))); } })`);
  const refusal = await hooks.run(`() => __pbsInternal.runHook("guard", [{}, {}])`);
  eq(refusal, "reject:no: [redacted]");
});

test("serve: a ReadableStream response is written chunk by chunk", async () => {
  const rt = createRuntime();
  const response = await rt.serve(
    `{ GET() {
        let n = 0;
        const stream = new ReadableStream({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, 15));
            if (++n > 3) controller.close();
            else controller.enqueue(n === 2 ? "text " + n + " " : new TextEncoder().encode("bytes " + n + " "));
          },
        });
        return new Response(stream, { headers: { "content-type": "text/event-stream" } });
      } }`,
    { method: "GET", url: "http://fn.test/sse" },
  );
  eq(response.chunks.map((c) => c.text), ["bytes 1 ", "text 2 ", "bytes 3 "]);
  assert.ok(response.chunks[2].at - response.chunks[0].at >= 20, "the chunks were written together, not streamed");
  eq([response.status, response.finished, response.headers], [200, true, [["content-type", "text/event-stream"]]]);
});

test("serve: an error after the head is logged and the body aborted", async () => {
  const rt = createRuntime();
  const response = await rt.serve(
    `{ GET() {
        return new Response(new ReadableStream({
          start(controller) { controller.enqueue(new TextEncoder().encode("partial")); },
          pull(controller) { controller.error(new Error("broken stream")); },
        }));
      } }`,
    { method: "GET", url: "http://fn.test/" },
  );
  // Aborted (closed without finish): the client sees a cut stream.
  eq([response.status, bodyText(response), response.finished], [200, "partial", false]);
  assert.equal(rt.host.closed.length > 0, true);
  assert.match(rt.host.logs.at(-1)[1], /Error: broken stream/);
});

test("runExport: resolves with the export's value", async () => {
  const rt = createRuntime();
  rt.internal.module = rt.global(`({ async sendMail(payload, meta) { return { to: payload.to, attempt: meta.attempt }; } })`);
  const value = await rt.run(`() => __pbsInternal.runExport("sendMail", [{ to: "a@b.c" }, { attempt: 2 }])`);
  eq(value, { to: "a@b.c", attempt: 2 });
  await assert.rejects(rt.run(`() => __pbsInternal.runExport("nope", [])`), /no exported function "nope"/);
});

// ---------------------------------------------------------------------------
// pb

test("pb: records, transactions, kv, jobs, files, trace, utils map to their ops", async () => {
  const rt = createRuntime();
  const result = await rt.run(async () => {
    const posts = pb.collection("posts");
    const notFound = await posts.getOne("missing").catch((err) => [err.name, err.code, err.message]);
    const txResult = await pb.tx(async (tx) => {
      const created = await tx.collection("posts").create({ title: "t" });
      await tx.kv().set("last", created.id, { ttl: 1 }); // seconds → ttl-ms 1000
      await tx.jobs.enqueue("index", { id: created.id });
      return created.id;
    });
    const rolledBack = await pb.tx(async () => {
      throw new Error("abort the tx");
    }).catch((err) => err.message);
    return {
      one: await posts.getOne("p1", { fields: "id,title" }),
      list: await posts.getList(2, 2, { filter: 'status = "open"', sort: "-created" }),
      full: (await posts.getFullList({ batch: 2 })).map((r) => r.id),
      first: (await posts.getFirstListItem('slug = "x"')).id,
      updated: await posts.update("p1", { title: "new" }),
      deleted: await posts.delete("p1"),
      vectors: await posts.vectorSearch({ vector: new Float32Array([0.5, 0.25]), field: "embedding", top: 3 }),
      notFound,
      txResult,
      rolledBack,
      kv: [
        await pb.kv.get("json"),
        [...(await pb.kv.get("raw"))],
        await pb.kv.get("absent"),
        new TextDecoder().decode(await pb.kv.get("text")),
      ],
      incr: await pb.kv.incr("n"),
      lock: await pb.kv.shared.setIfAbsent("lock", true, { ttl: 5 }),
      cas: await pb.kv.compareAndSwap("k", null, { v: 1 }),
      keys: await pb.kv.listKeys("a"),
      job: await pb.jobs.enqueue("mail", { to: "x" }, { delay: 1000, maxAttempts: 3 }),
      status: await pb.jobs.status("job1"),
      read: new TextDecoder().decode(await pb.files.read("docs", "d1", "a.txt")),
      saved: await pb.files.save("docs", "d1", { filename: "b.txt", data: new Blob(["blob data"]) }),
      secret: [await pb.secrets.get("KEY"), await pb.secrets.get("OTHER")],
      span: await pb.trace.span("work", async (span) => {
        span.setAttribute("k", "v");
        return "span result";
      }),
      traceId: await pb.trace.traceId(),
      hash: await pb.utils.hash("abc"),
      enumerable: Object.keys(globalThis).includes("pb"),
    };
  });
  eq(result.one, { id: "p1", title: "T" });
  eq([result.first, result.updated, result.deleted], ["first", { id: "p1", title: "new" }, true]);
  eq(result.list, { page: 2, perPage: 2, totalItems: 5, totalPages: 3, items: [{ id: "r3" }, { id: "r4" }] });
  eq(result.full, ["r1", "r2", "r3", "r4", "r5"]);
  eq(result.notFound, ["PbError", "not-found", "no record missing"]);
  eq(result.vectors, [{ record: { id: "v1" }, score: 0.9 }]);
  eq([result.txResult, result.rolledBack], ["new1", "abort the tx"]);
  eq(result.kv, [{ a: 1 }, [255, 0], null, "not json"]);
  eq([result.incr, result.lock, result.cas, result.keys, result.job], [42, true, true, ["a1", "a2", "a3"], "job1"]);
  eq(result.status, { id: "job1", name: "mail", state: "queued", attempts: 0, maxAttempts: 5, lastError: null, createdMs: 1, updatedMs: 2 });
  eq([result.read, result.saved, result.secret], ["file body", { filename: "b.txt", size: 9, modifiedMs: 5 }, ["s3cret", null]]);
  eq([result.span, result.traceId, result.hash, result.enumerable], ["span result", "0af7651916cd43dd8448eb211c80319c", "ab".repeat(32), false]);

  const calls = rt.host.pbCalls;
  const find = (op) => calls.find(([o]) => o === op);
  eq(find("data/records.get-list"), ["data/records.get-list", ["posts", { filter: 'status = "open"', sort: "-created", page: 2, perPage: 2, skipTotal: false }]]);
  eq(find("data/records.update"), ["data/records.update", ["posts", "p1", '{"title":"new"}']]);
  eq(find("data/records.vector-search"), ["data/records.vector-search", ["posts", { field: "embedding", vector: [0.5, 0.25], top: 3 }]]);
  // The transaction: begin, its writes with the handle, commit; the second one rolls back.
  eq(calls.filter(([op]) => /^(data\/records\.(begin|transaction)|kv\/store\.bucket\.set-in|jobs\/queue\.enqueue-in)/.test(op)), [
    ["data/records.begin", []],
    ["data/records.transaction.create", [7, "posts", '{"title":"t"}']],
    ["kv/store.bucket.set-in", [3, 7, "last", 'bytes:"new1"', 1000]],
    ["jobs/queue.enqueue-in", [7, "index", '{"id":"new1"}', {}]],
    ["data/records.transaction.commit", [7]],
    ["data/records.begin", []],
    ["data/records.transaction.rollback", [7]],
  ]);
  // Buckets are opened once per namespace and then used by handle.
  eq(calls.filter(([op]) => op === "kv/store.open"), [["kv/store.open", [null]], ["kv/store.open", ["shared"]]]);
  eq(find("kv/store.bucket.set-if-absent"), ["kv/store.bucket.set-if-absent", [4, "lock", "bytes:true", 5000]]);
  eq(find("kv/store.bucket.compare-and-swap"), ["kv/store.bucket.compare-and-swap", [3, "k", null, 'bytes:{"v":1}', null]]);
  eq(calls.filter(([op]) => op === "kv/store.bucket.list-keys"), [["kv/store.bucket.list-keys", [3, "a", null, null]], ["kv/store.bucket.list-keys", [3, "a", "c1", null]]]);
  eq(find("jobs/queue.enqueue"), ["jobs/queue.enqueue", ["mail", '{"to":"x"}', { delayMs: 1000, maxAttempts: 3 }]]);
  eq(find("files/storage.save"), ["files/storage.save", ["docs", "d1", "b.txt", "bytes:blob data"]]);
  eq(calls.filter(([op]) => op.startsWith("trace/tracing.span")), [
    ["trace/tracing.span.new", ["work", []]],
    ["trace/tracing.span.set-attribute", [9, "k", "v"]],
    ["trace/tracing.span.end", [9]],
  ]);
  eq(find("utils/helpers.hash"), ["utils/helpers.hash", ["bytes:abc", "sha256"]]);
});

// ---------------------------------------------------------------------------

let failed = 0;
for (const [name, fn] of tests) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n${err.stack ?? err}`);
  }
}
console.log(`\n${tests.length - failed} passed, ${failed} failed (prelude: ${PRELUDE.join(" ")})`);
process.exitCode = failed === 0 ? 0 : 1;
