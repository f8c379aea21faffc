// Tests of the JS runtime files (../NN-*.js) under Node, without QuickJS.
//
//   node guest-js/js/test/run.mjs
//
// The files are evaluated in a fresh `vm` context, where Node's own Web
// globals (ReadableStream, TextDecoder, …) do not exist, on a fake `__pbs`
// bridge. The event loop is driven the way Rust drives it: drain the microtasks
// (a vm context shares Node's microtask queue, so one `setImmediate` drains
// them), then `__pbsInternal.turn()`, until it returns false.
//
// Test functions are written here but run inside the context: each is
// re-evaluated there from its source text, so the globals it names are the
// context's. They receive `host`, the fake bridge's test controls.
//
// Optional: PBS_EVENTSOURCE_PARSER=/path/bundle.js runs a test with the real
// `eventsource-parser` package, bundled as an IIFE with global name `EP`:
//   npx esbuild entry.js --bundle --format=iife --global-name=EP --outfile=bundle.js
// where entry.js is `export { EventSourceParserStream } from "eventsource-parser/stream";`.

import { nodeRequestHref, nodeUrlParse, nodeUrlSet } from "./url-host.mjs";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { preludeSources } from "./prelude.mjs";

const JS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PRELUDE = preludeSources();
const TEST_TIMEOUT_MS = 10_000;

// -----------------------------------------------------------------------------
// The fake bridge

function createHost(context) {
  // Values handed to the guest must come from its realm (`instanceof` checks).
  const realm = vm.runInContext("({ Array, Uint8Array, TypeError })", context);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const readyAt = new Map(); // token -> performance.now() when the host says it is ready
  const logs = [];

  const pbs = {
    now: () => performance.now(),
    wait(tokens, timeoutMs) {
      const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
      const due = Math.min(deadline, ...tokens.map((token) => readyAt.get(token) ?? Infinity));
      if (due === Infinity) throw new realm.TypeError(`wait would block forever on [${tokens}]`);
      const sleep = due - performance.now();
      if (sleep > 0) Atomics.wait(sleeper, 0, 0, sleep);
      const now = performance.now();
      const ready = tokens.filter((token) => (readyAt.get(token) ?? Infinity) <= now);
      for (const token of ready) readyAt.delete(token);
      return realm.Array.from(ready);
    },
    randomBytes: (n) => new realm.Uint8Array(crypto.randomBytes(n)),
    // The real host parses with the `url` crate; Node's URL is the same standard.
    urlParse(input, base) {
      const parts = nodeUrlParse(input, base);
      return parts === null ? null : realm.Array.from(parts);
    },
    urlSet: (href, which, value) => realm.Array.from(nodeUrlSet(href, which, value)),
    requestHref: nodeRequestHref,
    utf8Encode: (text) => new realm.Uint8Array(Buffer.from(text, "utf8")),
    utf8Decode(bytes, fatal) {
      try {
        // ignoreBOM: the guest strips the BOM itself, as with the real host.
        return new TextDecoder("utf-8", { fatal, ignoreBOM: true }).decode(bytes);
      } catch (err) {
        throw new realm.TypeError(err.message);
      }
    },
    log: (level, message, fields) =>
      logs.push(fields === undefined ? { level, message } : { level, message, fields: JSON.parse(fields) }),
  };

  const controls = {
    logs,
    /** Token `token` becomes ready `delayMs` from now. */
    readyAt(token, delayMs) {
      readyAt.set(token, performance.now() + delayMs);
    },
  };
  return { pbs, controls };
}

// -----------------------------------------------------------------------------
// Helpers evaluated inside the context (by their source text)

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function assertEqual(actual, expected, message = "") {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e || (a === undefined && !Object.is(actual, expected))) {
    throw new Error(`${message ? `${message}: ` : ""}expected ${e ?? String(expected)}, got ${a ?? String(actual)}`);
  }
}

function assertThrows(fn, check, message = "") {
  try {
    fn();
  } catch (err) {
    check(err);
    return err;
  }
  throw new Error(`expected an exception ${message}`);
}

async function assertRejects(promise, check, message = "") {
  try {
    await promise;
  } catch (err) {
    check(err);
    return err;
  }
  throw new Error(`expected a rejection ${message}`);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function bytes(...values) {
  return new Uint8Array(values);
}

const CONTEXT_HELPERS = [assert, assertEqual, assertThrows, assertRejects, sleep, collect, bytes];

// -----------------------------------------------------------------------------
// The tests

const tests = [];
function test(name, fn, { skip = false } = {}) {
  tests.push({ name, fn, skip });
}

// ---- 00-internal / 10-base: timers and the event loop

test("timers fire in due order; clearTimeout cancels; extra args are passed", async () => {
  const order = [];
  setTimeout(() => order.push("late"), 20);
  setTimeout(() => order.push("early"), 5);
  const canceled = setTimeout(() => order.push("canceled"), 10);
  setTimeout((a, b) => order.push(a + b), 5, "x", "y");
  setTimeout(() => order.push("negative"), -5);
  clearTimeout(canceled);
  assert(typeof canceled === "number" && canceled > 0, "ids are positive numbers");
  await sleep(40);
  assertEqual(order, ["negative", "early", "xy", "late"]);
});

test("microtasks queued by a timer run before the next timer", async () => {
  const order = [];
  setTimeout(() => {
    order.push("timer 1");
    Promise.resolve().then(() => order.push("microtask"));
  }, 0);
  setTimeout(() => order.push("timer 2"), 0);
  await sleep(5);
  assertEqual(order, ["timer 1", "microtask", "timer 2"]);
});

test("setInterval repeats until clearInterval", async () => {
  let count = 0;
  const id = setInterval(() => {
    count++;
    if (count === 3) clearInterval(id);
  }, 2);
  await sleep(30);
  assertEqual(count, 3);
});

test("waitFor resolves tokens as the host readies them, between timers", async (host) => {
  const internal = __pbsInternal;
  const order = [];
  host.readyAt(101, 30);
  host.readyAt(102, 5);
  const first = internal.waitFor(101).then(() => order.push("token 101"));
  const second = internal.waitFor(102).then(() => order.push("token 102"));
  assert(internal.waitFor(101) === internal.waitFor(101), "one promise per token");
  setTimeout(() => order.push("timer 15"), 15);
  await Promise.all([first, second]);
  assertEqual(order, ["token 102", "timer 15", "token 101"]);
});

test("turn() is false when only unref timers (AbortSignal.timeout) remain", async () => {
  AbortSignal.timeout(60_000);
  assertEqual(__pbsInternal.turn(), false);
  setTimeout(() => {}, 1);
  assertEqual(__pbsInternal.turn(), true);
});

test("a throwing timer callback is logged with its stack and the loop goes on", async (host) => {
  setTimeout(() => {
    throw new Error("boom in timer");
  }, 0);
  let after = false;
  setTimeout(() => (after = true), 1);
  await sleep(5);
  assert(after, "the next timer ran");
  const entry = host.logs.find((log) => log.message.includes("boom in timer"));
  assertEqual(entry?.level, "error");
  assert(/\n\s+at /.test(entry.message), "the stack is logged");
});

test("queueMicrotask runs before timers and reports exceptions", async (host) => {
  const order = [];
  setTimeout(() => order.push("timer"), 0);
  queueMicrotask(() => order.push("microtask"));
  queueMicrotask(() => {
    throw new Error("boom in microtask");
  });
  await sleep(2);
  assertEqual(order, ["microtask", "timer"]);
  assert(host.logs.some((log) => log.level === "error" && log.message.includes("boom in microtask")), "logged");
  assertThrows(() => queueMicrotask("nope"), (err) => assert(err instanceof TypeError, "TypeError"));
});

// ---- 10-base: the other globals

test("globals are not enumerable", async () => {
  assertEqual(Object.keys(globalThis).includes("ReadableStream"), false);
  assertEqual(Object.keys(globalThis).includes("setTimeout"), false);
  assertEqual(Object.prototype.toString.call(new ReadableStream()), "[object ReadableStream]");
});

test("DOMException: name, message, code, constants", async () => {
  const err = new DOMException("gone", "AbortError");
  assert(err instanceof Error, "is an Error");
  assertEqual([err.name, err.message, err.code], ["AbortError", "gone", 20]);
  assertEqual(String(err), "AbortError: gone");
  assertEqual(new DOMException("x", "Custom").code, 0);
  assertEqual(new DOMException().name, "Error");
  assertEqual([DOMException.ABORT_ERR, DOMException.DATA_CLONE_ERR, err.TIMEOUT_ERR], [20, 25, 23]);
});

test("structuredClone: cycles, shared references, built-in types", async () => {
  const shared = { n: 1 };
  const original = { shared, again: shared, list: [1, "two", null, undefined], date: new Date(5), re: /a+/gi };
  original.self = original;
  original.map = new Map([[shared, new Set([1, 2])]]);
  const buffer = new ArrayBuffer(8);
  original.view = new Uint16Array(buffer, 2, 2);
  original.dv = new DataView(buffer);
  original.error = new RangeError("bad", { cause: "why" });
  original.dom = new DOMException("nope", "NotFoundError");
  original.boxed = new String("s");
  original.big = 10n;

  const copy = structuredClone(original);
  assert(copy !== original && copy.self === copy, "cycle kept");
  assert(copy.shared === copy.again && copy.shared !== shared, "shared reference kept");
  assertEqual(copy.list, [1, "two", null, null]);
  assert(copy.list.length === 4 && copy.list[3] === undefined && 3 in copy.list, "undefined item");
  assert(copy.date instanceof Date && copy.date.getTime() === 5, "Date");
  assertEqual([copy.re.source, copy.re.flags], ["a+", "gi"]);
  const [[key, set]] = copy.map;
  assert(key === copy.shared && set instanceof Set && set.has(2), "Map and Set");
  assert(copy.view instanceof Uint16Array && copy.view.byteOffset === 2 && copy.view.length === 2, "typed array");
  assert(copy.view.buffer === copy.dv.buffer && copy.view.buffer !== buffer, "views share the cloned buffer");
  assert(copy.error instanceof RangeError && copy.error.message === "bad" && copy.error.cause === "why", "Error");
  assert(copy.dom instanceof DOMException && copy.dom.name === "NotFoundError" && copy.dom.code === 8, "DOMException");
  assert(copy.boxed instanceof String && String(copy.boxed) === "s", "wrapper");
  assertEqual(copy.big === 10n, true);

  const isDataCloneError = (err) => assert(err instanceof DOMException && err.name === "DataCloneError", String(err));
  assertThrows(() => structuredClone({ f() {} }), isDataCloneError);
  assertThrows(() => structuredClone(Symbol("s")), isDataCloneError);
  assertThrows(() => structuredClone(Promise.resolve()), isDataCloneError);
  const withProto = structuredClone(JSON.parse('{"__proto__": {"x": 1}}'));
  assert(Object.getPrototypeOf(withProto) === Object.prototype && withProto.__proto__.x === 1, "__proto__ is data");
});

test("atob/btoa round trip, forgiving whitespace and padding, errors", async () => {
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  assertEqual(atob(btoa(all)), all);
  assertEqual(btoa("hello"), "aGVsbG8=");
  assertEqual(btoa(""), "");
  assertEqual(atob(" aGVs\nbG8= "), "hello");
  assertEqual(atob("aGVsbG8"), "hello");
  assertEqual(atob("YQ=="), "a");
  const invalid = (err) => assert(err instanceof DOMException && err.name === "InvalidCharacterError" && err.code === 5, String(err));
  assertThrows(() => atob("a"), invalid);
  assertThrows(() => atob("YQ="), invalid);
  assertThrows(() => atob("Y*=="), invalid);
  assertThrows(() => btoa("€"), invalid);
});

test("EventTarget: once, signal, handleEvent, stopImmediatePropagation, preventDefault", async (host) => {
  const target = new EventTarget();
  const calls = [];
  const listener = (event) => calls.push(`fn:${event.type}`);
  target.addEventListener("ping", listener);
  target.addEventListener("ping", listener); // duplicate: ignored
  target.addEventListener("ping", () => calls.push("once"), { once: true });
  target.addEventListener("ping", { handleEvent: (event) => calls.push(`object:${event.eventPhase}`) });
  const controller = new AbortController();
  target.addEventListener("ping", () => calls.push("signal"), { signal: controller.signal });
  target.addEventListener("ping", () => {
    throw new Error("listener failure");
  });
  target.dispatchEvent(new Event("ping"));
  controller.abort();
  target.dispatchEvent(new Event("ping"));
  target.removeEventListener("ping", listener);
  target.dispatchEvent(new Event("ping"));
  assertEqual(calls, ["fn:ping", "once", "object:2", "signal", "fn:ping", "object:2", "object:2"]);
  assert(host.logs.some((log) => log.level === "error" && log.message.includes("listener failure")), "reported");

  const other = new EventTarget();
  other.addEventListener("x", (event) => {
    event.preventDefault();
    event.stopImmediatePropagation();
  });
  other.addEventListener("x", () => calls.push("not reached"));
  const event = new Event("x", { cancelable: true });
  assertEqual(other.dispatchEvent(event), false);
  assert(event.defaultPrevented && event.target === other && event.currentTarget === null, "event state after dispatch");
  assertEqual(other.dispatchEvent(new Event("x")), true, "not cancelable");

  const custom = new CustomEvent("c", { detail: { a: 1 } });
  assert(custom instanceof Event && custom.detail.a === 1, "CustomEvent");
});

test("crypto.getRandomValues and randomUUID", async () => {
  const array = new Uint32Array(8);
  assert(crypto.getRandomValues(array) === array, "returns its argument");
  assert(array.some((x) => x !== 0), "filled");
  const big = new BigUint64Array(2);
  crypto.getRandomValues(big);
  crypto.getRandomValues(new Uint8Array(65536));
  assertThrows(
    () => crypto.getRandomValues(new Uint8Array(65537)),
    (err) => assertEqual(err.name, "QuotaExceededError"),
  );
  assertThrows(
    () => crypto.getRandomValues(new Float32Array(4)),
    (err) => assertEqual(err.name, "TypeMismatchError"),
  );
  const uuids = new Set(Array.from({ length: 20 }, () => crypto.randomUUID()));
  assertEqual(uuids.size, 20);
  for (const uuid of uuids) assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid), uuid);
});

test("performance.now and timeOrigin", async () => {
  const a = performance.now();
  await sleep(3);
  assert(performance.now() > a, "increases");
  assert(Math.abs(performance.timeOrigin + performance.now() - Date.now()) < 50, "timeOrigin + now ≈ Date.now()");
});

test("console: substitutions, inspect, levels", async (host) => {
  const lines = () => host.logs.splice(0).map((log) => `${log.level} ${log.message}`);
  console.log("Processing", { userId: 1 });
  console.warn("%s done", "job", { id: "j1", ms: 1.5 }, [1], { ok: true, nested: { a: null } });
  assertEqual(JSON.stringify(host.logs.splice(0)), JSON.stringify([
    { level: "info", message: "Processing", fields: { userId: 1 } },
    { level: "warn", message: "job done [ 1 ]", fields: { id: "j1", ms: 1.5, ok: true, nested: { a: null } } },
  ]));
  console.log("%s is %d years, %i%%, %f", "Bob", 42.5, 42.9, "1.5x", "extra", 7);
  console.log("%j %o", { a: [1] }, [1]);
  console.log("plain", 1, "two", null, undefined, true, 3n, Symbol("s"));
  console.log({ a: 1, b: "x'y", c: [1, 2], "d-e": { f: { g: { h: 1 } } } });
  assertEqual(lines(), [
    "info Bob is 42.5 years, 42%, 1.5 extra 7",
    'info {"a":[1]} [ 1 ]',
    "info plain 1 two null undefined true 3n Symbol(s)",
    `info { a: 1, b: "x'y", c: [ 1, 2 ], 'd-e': { f: { g: [Object] } } }`,
  ]);

  const cyclic = { name: "loop", list: [] };
  cyclic.self = cyclic;
  cyclic.list.push(cyclic);
  console.info(cyclic);
  console.debug(new Map([["k", { v: 1 }]]), new Set([1, "a"]), new Uint8Array([1, 2, 3]));
  console.warn([1, , 3], Object.create(null), new (class Point { constructor() { this.x = 1; } })());
  console.error("%s", "failed", new Date(0), /x/g, () => {}, function named() {}, class Klass {});
  assertEqual(lines(), [
    "info { name: 'loop', list: [ [Circular] ], self: [Circular] }",
    "debug Map(1) { 'k' => { v: 1 } } Set(2) { 1, 'a' } Uint8Array(3) [ 1, 2, 3 ]",
    "warn [ 1, <1 empty item>, 3 ] [Object: null prototype] {} Point { x: 1 }",
    "error failed 1970-01-01T00:00:00.000Z /x/g [Function (anonymous)] [Function: named] [class Klass]",
  ]);

  const error = new TypeError("bad input");
  error.code = "invalid";
  console.error("oops:", error);
  const [logged] = lines();
  assert(logged.startsWith("error oops: TypeError: bad input\n"), logged);
  assert(/\n\s+at /.test(logged) && logged.endsWith("code: 'invalid'\n}"), logged);

  const long = { text: "x".repeat(70), n: 1 };
  console.log(long);
  assertEqual(lines(), [`info {\n  text: '${"x".repeat(70)}',\n  n: 1\n}`]);
  console.log(Array.from({ length: 30 }, (_, i) => i));
  const [packed] = lines();
  assertEqual(packed.split("\n").length, 4, `short items are packed several to a line: ${packed}`);

  console.assert(true, "fine");
  console.assert(false, "value %d", 5);
  console.count();
  console.count();
  console.count("x");
  console.group("group");
  console.log("inside");
  console.groupEnd();
  console.dir({ a: { b: { c: { d: 1 } } } }, { depth: 0 });
  assertEqual(lines(), [
    "error Assertion failed: value 5",
    "info default: 1",
    "info default: 2",
    "info x: 1",
    "info group",
    "info   inside",
    "info { a: [Object] }",
  ]);

  console.time("t");
  console.timeEnd("t");
  console.timeEnd("t");
  console.trace("here");
  const [time, missing, trace] = lines();
  assert(/^info t: \d+\.\d{3}ms$/.test(time), time);
  assertEqual(missing, "warn No such label 't' for console.timeEnd()");
  assert(trace.startsWith("error Trace: here\n") && /\n\s+at /.test(trace), trace);
});

// ---- 20-abort

test("AbortController: abort event, onabort, default reason, throwIfAborted", async () => {
  const controller = new AbortController();
  const { signal } = controller;
  const seen = [];
  signal.onabort = (event) => seen.push(`onabort:${event.type}`);
  signal.addEventListener("abort", () => seen.push(`listener:${signal.aborted}`));
  signal.throwIfAborted();
  controller.abort();
  controller.abort("again"); // no effect
  assertEqual(seen, ["onabort:abort", "listener:true"]);
  assert(signal.reason instanceof DOMException && signal.reason.name === "AbortError", "default reason");
  assertThrows(() => signal.throwIfAborted(), (err) => assert(err === signal.reason, "throws the reason"));
  assertThrows(() => new AbortSignal(), (err) => assert(err instanceof TypeError, "illegal constructor"));
  assert(signal instanceof EventTarget, "AbortSignal extends EventTarget");
});

test("AbortSignal.abort, AbortSignal.any, AbortSignal.timeout", async () => {
  assertEqual(AbortSignal.abort("why").reason, "why");
  const a = new AbortController();
  const b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  assertEqual(any.aborted, false);
  b.abort("b first");
  a.abort("a second");
  assertEqual([any.aborted, any.reason], [true, "b first"]);
  assertEqual(AbortSignal.any([new AbortController().signal, AbortSignal.abort("pre")]).reason, "pre");
  const nested = AbortSignal.any([AbortSignal.any([a.signal])]);
  assertEqual(nested.reason, "a second");

  const timeout = AbortSignal.timeout(5);
  const combined = AbortSignal.any([new AbortController().signal, timeout]);
  // The timeout's timer does not keep the loop alive (like Node's unref): a sleep does.
  await sleep(15);
  assert(timeout.reason instanceof DOMException && timeout.reason.name === "TimeoutError", "TimeoutError");
  assert(combined.reason === timeout.reason, "any() follows the timeout");
  assertThrows(() => AbortSignal.timeout(-1), (err) => assert(err instanceof TypeError, "TypeError"));
});

// ---- 30-encoding

test("TextEncoder: encode and encodeInto stop at a character boundary", async () => {
  const encoder = new TextEncoder();
  assertEqual([...encoder.encode("a€😀")], [0x61, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  assertEqual([...encoder.encode("\ud800")], [0xef, 0xbf, 0xbd]);
  const destination = new Uint8Array(6);
  assertEqual(encoder.encodeInto("a😀b€", destination), { read: 4, written: 6 });
  assertEqual([...destination], [0x61, 0xf0, 0x9f, 0x98, 0x80, 0x62]);
  assertEqual(encoder.encodeInto("😀", new Uint8Array(3)), { read: 0, written: 0 });
  assertEqual(encoder.encodeInto("x\udc00", new Uint8Array(4)), { read: 2, written: 4 });
  assertEqual(encoder.encoding, "utf-8");
});

test("TextDecoder: streaming a 4-byte emoji split over chunks, BOM, fatal", async () => {
  const emoji = [0xf0, 0x9f, 0x98, 0x80]; // 😀
  const decoder = new TextDecoder();
  let text = "";
  text += decoder.decode(bytes(0x61, emoji[0]), { stream: true });
  text += decoder.decode(bytes(emoji[1]), { stream: true });
  text += decoder.decode(bytes(emoji[2], emoji[3], 0x62), { stream: true });
  text += decoder.decode();
  assertEqual(text, "a😀b");

  assertEqual(decoder.decode(bytes(0xef, 0xbb, 0xbf, 0x68, 0x69)), "hi", "BOM removed");
  const bomStream = new TextDecoder("UTF8 ");
  assertEqual(bomStream.decode(bytes(0xef, 0xbb), { stream: true }) + bomStream.decode(bytes(0xbf, 0xef, 0xbb, 0xbf)), "\ufeff", "only the first BOM");
  assertEqual(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes(0xef, 0xbb, 0xbf, 0x68)), "\ufeffh");
  assertEqual(decoder.decode(bytes(0xf0, 0x9f)), "\ufffd", "truncated at the end");
  assertEqual(decoder.decode(bytes(0xe0, 0x80), { stream: true }), "\ufffd\ufffd", "invalid now, not held back");
  decoder.decode();
  assertEqual(decoder.decode(new Uint16Array([0x6968]).buffer), "hi", "ArrayBuffer");
  assertEqual(decoder.decode(new DataView(bytes(0x7a, 0x61, 0x62).buffer, 1)), "ab", "DataView with an offset");

  const fatal = new TextDecoder("utf-8", { fatal: true });
  assertThrows(() => fatal.decode(bytes(0xff)), (err) => assert(err instanceof TypeError, "TypeError"));
  assertEqual(fatal.decode(bytes(0xf0, 0x9f), { stream: true }), "", "incomplete but valid so far");
  assertThrows(() => fatal.decode(), (err) => assert(err instanceof TypeError, "TypeError at the end"));
  assertThrows(() => new TextDecoder("latin1"), (err) => assert(err instanceof RangeError, "RangeError"));
  assertThrows(() => new TextDecoder("\vutf-8"), (err) => assert(err instanceof RangeError, "only ASCII whitespace is trimmed"));
  assertEqual([fatal.encoding, fatal.fatal, fatal.ignoreBOM], ["utf-8", true, false]);
});

// ---- 35-streams: ReadableStream

test("ReadableStream: read, close, closed, locked", async () => {
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue("a");
      controller.enqueue("b");
      controller.close();
      assertThrows(() => controller.enqueue("c"), (err) => assert(err instanceof TypeError, "closed"));
    },
  });
  const reader = stream.getReader();
  assert(stream.locked, "locked");
  assertThrows(() => stream.getReader(), (err) => assert(err instanceof TypeError, "already locked"));
  assertEqual(await reader.read(), { value: "a", done: false });
  assertEqual(await reader.read(), { value: "b", done: false });
  assertEqual(await reader.read(), { done: true });
  await reader.closed;
  reader.releaseLock();
  assert(!stream.locked, "unlocked");
  await assertRejects(reader.read(), (err) => assert(err instanceof TypeError, "released reader"));
});

test("ReadableStream: pull on demand, never again before its promise settles", async () => {
  let pulls = 0;
  let active = 0;
  let maxActive = 0;
  const stream = new ReadableStream(
    {
      async pull(controller) {
        active++;
        maxActive = Math.max(maxActive, active);
        pulls++;
        await sleep(1);
        controller.enqueue(pulls);
        if (pulls === 5) controller.close();
        active--;
      },
    },
    { highWaterMark: 2 },
  );
  assertEqual(await collect(stream), [1, 2, 3, 4, 5]);
  assertEqual(maxActive, 1);
});

test("ReadableStream: desiredSize and a size-based strategy", async () => {
  let controller;
  new ReadableStream({ start: (c) => (controller = c) }, new ByteLengthQueuingStrategy({ highWaterMark: 10 }));
  assertEqual(controller.desiredSize, 10);
  controller.enqueue(new Uint8Array(4));
  assertEqual(controller.desiredSize, 6);
  controller.enqueue(new Uint8Array(8));
  assertEqual(controller.desiredSize, -2);
  const count = new CountQueuingStrategy({ highWaterMark: 3 });
  assertEqual([count.highWaterMark, count.size(), new ByteLengthQueuingStrategy({ highWaterMark: 1 }).size({ byteLength: 7 })], [3, 1, 7]);
  assertThrows(() => new ReadableStream({}, { highWaterMark: -1 }), (err) => assert(err instanceof RangeError, "RangeError"));
});

test("ReadableStream: cancel reaches the source; reads then end", async () => {
  let reason;
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(1);
    },
    cancel(r) {
      reason = r;
    },
  });
  const reader = stream.getReader();
  await assertRejects(stream.cancel("x"), (err) => assert(err instanceof TypeError, "locked"));
  await reader.cancel("stop");
  assertEqual(reason, "stop");
  assertEqual(await reader.read(), { done: true });
});

test("ReadableStream: errors reach pending and later reads, and closed", async () => {
  let controller;
  const stream = new ReadableStream({ start: (c) => (controller = c) });
  const reader = stream.getReader();
  const pending = reader.read();
  const failure = new Error("source failed");
  controller.error(failure);
  await assertRejects(pending, (err) => assert(err === failure, "pending read"));
  await assertRejects(reader.read(), (err) => assert(err === failure, "later read"));
  await assertRejects(reader.closed, (err) => assert(err === failure, "closed"));

  const rejectedStart = new ReadableStream({ start: () => Promise.reject(failure) });
  await assertRejects(rejectedStart.getReader().read(), (err) => assert(err === failure, "start rejection"));
  assertThrows(
    () => new ReadableStream({ start() { throw failure; } }),
    (err) => assert(err === failure, "start throw"),
  );
  const failingPull = new ReadableStream({ pull: () => { throw failure; } });
  await assertRejects(failingPull.getReader().read(), (err) => assert(err === failure, "pull throw"));
});

test("ReadableStream: releaseLock rejects pending reads; a new reader continues", async () => {
  let controller;
  const stream = new ReadableStream({ start: (c) => (controller = c) });
  const reader = stream.getReader();
  const pending = reader.read();
  reader.releaseLock();
  await assertRejects(pending, (err) => assert(err instanceof TypeError, "TypeError"));
  await assertRejects(reader.closed, (err) => assert(err instanceof TypeError, "closed rejects"));
  const next = stream.getReader();
  controller.enqueue("later");
  assertEqual(await next.read(), { value: "later", done: false });
});

test("ReadableStream: chunks reach a waiting reader in microtasks, before any timer", async () => {
  let controller;
  const stream = new ReadableStream({ start: (c) => (controller = c) });
  const reader = stream.getReader();
  let timerFired = false;
  setTimeout(() => (timerFired = true), 0);
  const results = [];
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      results.push(value);
    }
  })();
  for (let i = 0; i < 100; i++) {
    controller.enqueue(i);
    await Promise.resolve();
  }
  controller.close();
  await done;
  assertEqual([results.length, timerFired], [100, false]);
});

test("ReadableStream type 'bytes': Uint8Array chunks through a default reader", async () => {
  const stream = new ReadableStream({
    type: "bytes",
    start(controller) {
      controller.enqueue(new Uint16Array([0x6261]));
      assertThrows(() => controller.enqueue("text"), (err) => assert(err instanceof TypeError, "not a view"));
      controller.close();
    },
  });
  const [chunk] = await collect(stream);
  assert(chunk instanceof Uint8Array && chunk.length === 2 && chunk[0] === 0x61, "Uint8Array");
  assertThrows(() => new ReadableStream({ type: "other" }), (err) => assert(err instanceof TypeError, "bad type"));
  assertThrows(() => new ReadableStream(null), (err) => assert(err instanceof TypeError, "null source"));
  assertThrows(() => new ReadableStream().getReader({ mode: "byob" }), (err) => assert(err instanceof TypeError, "BYOB of a default stream"));
});

test("byte streams: a BYOB reader fills the caller's buffer through byobRequest, min and all", async () => {
  let pulls = 0;
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      const request = controller.byobRequest;
      assert(request !== null, "a BYOB read makes a byobRequest");
      const view = request.view;
      const n = Math.min(3, view.byteLength);
      for (let i = 0; i < n; i++) view[i] = 10 * ++pulls;
      request.respond(n);
      if (pulls >= 8) controller.close();
    },
  });
  const reader = stream.getReader({ mode: "byob" });
  const first = await reader.read(new Uint8Array(2));
  assertEqual([...first.value], [10, 20]);
  assert(!first.done, "not done");
  const buffer = new ArrayBuffer(8);
  const second = await reader.read(new Uint8Array(buffer), { min: 5 });
  // Node 20 has no ArrayBuffer.prototype.transfer (QuickJS has): there the buffer is copied.
  if (typeof ArrayBuffer.prototype.transfer === "function") assert(buffer.byteLength === 0, "the caller's buffer was transferred");
  // 3 bytes per pull: the read waits for a second pull to reach min = 5.
  assertEqual([...second.value], [30, 40, 50, 60, 70, 80]);
  // The source closed after 8 bytes: a read now is done, with an empty view of the caller's type.
  const third = await reader.read(new Uint16Array(4));
  assert(third.done && third.value instanceof Uint16Array && third.value.length === 0, "done with an empty Uint16Array");
});

test("byte streams: enqueued chunks fill a BYOB read; autoAllocateChunkSize serves a default reader", async () => {
  const stream = new ReadableStream({
    type: "bytes",
    start(controller) {
      controller.enqueue(new Uint8Array([1, 2, 3, 4, 5]));
      controller.close();
    },
  });
  const reader = stream.getReader({ mode: "byob" });
  const a = await reader.read(new Uint8Array(3));
  const b = await reader.read(new Uint8Array(3));
  assertEqual([[...a.value], [...b.value]], [[1, 2, 3], [4, 5]]);
  assert((await reader.read(new Uint8Array(1))).done, "closed");

  const auto = new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 16,
    pull(controller) {
      const view = controller.byobRequest.view;
      assertEqual(view.byteLength, 16);
      view.set([7, 8]);
      controller.byobRequest.respond(2);
      controller.close();
    },
  });
  const chunks = await collect(auto);
  assertEqual(chunks.map((c) => [...c]), [[7, 8]]);
});

test("tee: both branches get every chunk; the source is canceled once both are", async () => {
  let cancelReason;
  const source = new ReadableStream({
    start(controller) {
      ["a", "b", "c"].forEach((chunk) => controller.enqueue(chunk));
      controller.close();
    },
  });
  const [left, right] = source.tee();
  assert(source.locked, "the source is locked");
  const [l, r] = await Promise.all([collect(left), collect(right)]);
  assertEqual([l, r], [["a", "b", "c"], ["a", "b", "c"]]);

  let controller;
  const endless = new ReadableStream({ start: (c) => (controller = c), cancel: (reason) => (cancelReason = reason) });
  const [one, two] = endless.tee();
  controller.enqueue(1);
  const canceledOne = one.cancel("one"); // settles when both branches are canceled
  assertEqual(cancelReason, undefined, "one branch canceled: the source goes on");
  const reader = two.getReader();
  assertEqual(await reader.read(), { value: 1, done: false });
  await Promise.all([canceledOne, reader.cancel("two")]);
  assertEqual(cancelReason, ["one", "two"]);
});

test("tee: a source error errors both branches", async () => {
  let controller;
  const [a, b] = new ReadableStream({ start: (c) => (controller = c) }).tee();
  const failure = new Error("tee failure");
  controller.error(failure);
  await assertRejects(a.getReader().read(), (err) => assert(err === failure, "branch 1"));
  await assertRejects(b.getReader().closed, (err) => assert(err === failure, "branch 2"));
});

test("async iteration: break cancels the stream unless preventCancel", async () => {
  let canceled = 0;
  const make = () =>
    new ReadableStream({
      pull(controller) {
        controller.enqueue("x");
      },
      cancel() {
        canceled++;
      },
    });
  for await (const chunk of make()) {
    assertEqual(chunk, "x");
    break;
  }
  assertEqual(canceled, 1);
  const kept = make();
  for await (const chunk of kept.values({ preventCancel: true })) break;
  assertEqual([canceled, kept.locked], [1, false]);
  const reader = kept.getReader();
  assertEqual((await reader.read()).value, "x");

  const iterator = make()[Symbol.asyncIterator]();
  const [first, second] = await Promise.all([iterator.next(), iterator.next()]);
  assertEqual([first, second], [{ value: "x", done: false }, { value: "x", done: false }]);
  assertEqual(await iterator.return("r"), { value: "r", done: true });
  assertEqual(await iterator.next(), { done: true });
  assert(iterator[Symbol.asyncIterator]() === iterator, "is its own async iterator");
});

test("ReadableStream.from: async generators, iterables, promises, cancel calls return()", async () => {
  async function* generate() {
    yield 1;
    await sleep(1);
    yield 2;
  }
  assertEqual(await collect(ReadableStream.from(generate())), [1, 2]);
  assertEqual(await collect(ReadableStream.from(["a", Promise.resolve("b")])), ["a", "b"]);
  assertEqual(await collect(ReadableStream.from("hi")), ["h", "i"]);
  assertEqual(await collect(ReadableStream.from(ReadableStream.from([3]))), [3]);

  let returned;
  const iterable = {
    [Symbol.asyncIterator]() {
      return {
        next: async () => ({ value: "v", done: false }),
        return: async (reason) => {
          returned = reason;
          return { done: true };
        },
      };
    },
  };
  const reader = ReadableStream.from(iterable).getReader();
  await reader.read();
  await reader.cancel("enough");
  assertEqual(returned, "enough");
  assertThrows(() => ReadableStream.from(5), (err) => assert(err instanceof TypeError, "not iterable"));
  const failing = ReadableStream.from({ [Symbol.iterator]: () => ({ next: () => { throw new Error("next failed"); } }) });
  await assertRejects(failing.getReader().read(), (err) => assertEqual(err.message, "next failed"));
});

// ---- 35-streams: WritableStream

test("WritableStream: writes in order, backpressure on ready/desiredSize, close after writes", async () => {
  const log = [];
  const stream = new WritableStream(
    {
      async write(chunk) {
        await sleep(2);
        log.push(`write ${chunk}`);
      },
      close() {
        log.push("close");
      },
    },
    { highWaterMark: 2 },
  );
  const writer = stream.getWriter();
  assertEqual(writer.desiredSize, 2);
  const writes = [writer.write(1), writer.write(2), writer.write(3)];
  assertEqual(writer.desiredSize, -1);
  let ready = false;
  writer.ready.then(() => (ready = true));
  await Promise.resolve();
  assertEqual(ready, false, "ready waits under backpressure");
  await writes[0];
  await writer.ready;
  await Promise.all([...writes, writer.close()]);
  await writer.closed;
  assertEqual(log, ["write 1", "write 2", "write 3", "close"]);
  await assertRejects(writer.write(4), (err) => assert(err instanceof TypeError, "closed"));
});

test("WritableStream: abort rejects queued writes and signals the sink", async () => {
  let abortReason;
  let controller;
  const stream = new WritableStream({
    start: (c) => (controller = c),
    write: () => sleep(5),
    abort: (reason) => (abortReason = reason),
  });
  const writer = stream.getWriter();
  const inFlight = writer.write("in flight");
  await Promise.resolve();
  const queued = writer.write("queued");
  const abort = writer.abort("stop");
  assert(controller.signal.aborted && controller.signal.reason === "stop", "controller.signal");
  await assertRejects(writer.ready, (err) => assertEqual(err, "stop"));
  assertEqual(abortReason, undefined, "the sink's abort waits for the write in flight");
  await inFlight;
  await abort;
  assertEqual(abortReason, "stop");
  await assertRejects(queued, (err) => assertEqual(err, "stop"));
  await assertRejects(writer.closed, (err) => assertEqual(err, "stop"));
});

test("WritableStream: a failing write errors the stream", async () => {
  const failure = new Error("sink failure");
  const writer = new WritableStream({ write: () => Promise.reject(failure) }).getWriter();
  await assertRejects(writer.write("a"), (err) => assert(err === failure, "write"));
  await assertRejects(writer.closed, (err) => assert(err === failure, "closed"));
  await assertRejects(writer.write("b"), (err) => assert(err === failure, "next write"));
  writer.releaseLock();
  await assertRejects(writer.closed, (err) => assert(err instanceof TypeError, "released"));
});

// ---- 35-streams: TransformStream and pipes

test("pipeThrough: identity and custom transforms, flush", async () => {
  const source = ReadableStream.from(["a", "b", "c"]);
  const upper = new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk.toUpperCase());
    },
    flush(controller) {
      controller.enqueue("!");
    },
  });
  const out = source.pipeThrough(new TransformStream()).pipeThrough(upper);
  assert(source.locked, "the pipe locks the source");
  assertEqual(await collect(out), ["A", "B", "C", "!"]);
  assert(!source.locked, "and releases it when done");
});

test("TransformStream: terminate, error, async transform", async () => {
  const terminating = new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      if (chunk === 2) controller.terminate();
    },
  });
  const writer = terminating.writable.getWriter();
  writer.write(1);
  writer.write(2);
  const reader = terminating.readable.getReader();
  assertEqual([(await reader.read()).value, (await reader.read()).value, (await reader.read()).done], [1, 2, true]);
  await assertRejects(writer.closed, (err) => assert(err instanceof TypeError, "writable errored by terminate"));

  const failure = new Error("transform failure");
  const failing = new TransformStream({ transform: async () => { throw failure; } });
  const failingWriter = failing.writable.getWriter();
  const failingRead = failing.readable.getReader().read();
  await assertRejects(failingWriter.write("x"), (err) => assert(err === failure, "write"));
  await assertRejects(failingRead, (err) => assert(err === failure, "read"));

  const slow = new TransformStream({
    async transform(chunk, controller) {
      await sleep(1);
      controller.enqueue(chunk * 2);
    },
  });
  const doubled = ReadableStream.from([1, 2, 3]).pipeThrough(slow);
  assertEqual(await collect(doubled), [2, 4, 6]);
});

test("TransformStream: readable.cancel() calls transformer.cancel() and errors the writable", async () => {
  let canceledWith;
  const ts = new TransformStream({ cancel: (reason) => (canceledWith = reason) });
  const writer = ts.writable.getWriter();
  await ts.readable.cancel("stop");
  assertEqual(canceledWith, "stop");
  await assertRejects(writer.closed, (err) => assertEqual(err, "stop"));

  // controller.error() right after cancel() wins over the cancel reason (spec promise timing).
  let controller;
  const racing = new TransformStream({ start: (c) => (controller = c) });
  const canceled = racing.readable.cancel("ignored");
  const failure = new Error("first");
  controller.error(failure);
  await canceled;
  await assertRejects(racing.writable.getWriter().closed, (err) => assert(err === failure, String(err)));
});

test("pipeTo: backpressure keeps the source close to a slow sink", async () => {
  let produced = 0;
  let maxAhead = 0;
  const written = [];
  const source = new ReadableStream(
    {
      pull(controller) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - written.length);
        controller.enqueue(produced);
        if (produced === 20) controller.close();
      },
    },
    { highWaterMark: 1 },
  );
  const sink = new WritableStream(
    {
      async write(chunk) {
        await sleep(1);
        written.push(chunk);
      },
    },
    { highWaterMark: 1 },
  );
  await source.pipeTo(sink);
  assertEqual(written, Array.from({ length: 20 }, (_, i) => i + 1));
  assert(maxAhead <= 4, `the source ran ${maxAhead} chunks ahead of the sink`);
  assert(!source.locked && !sink.locked, "the pipe released its locks");
  await assertRejects(sink.getWriter().write("more"), (err) => assert(err instanceof TypeError, "the sink is closed"));
});

test("pipeTo: errors propagate both ways; preventClose; signal aborts", async () => {
  const failure = new Error("source failure");
  let sinkAbort;
  const erroring = new ReadableStream({ pull: (c) => c.error(failure) });
  await assertRejects(
    erroring.pipeTo(new WritableStream({ abort: (r) => (sinkAbort = r) })),
    (err) => assert(err === failure, "rejects with the source error"),
  );
  assert(sinkAbort === failure, "the sink was aborted with it");

  let sourceCancel;
  const sinkFailure = new Error("sink failure");
  const endless = new ReadableStream({ pull: (c) => c.enqueue(1), cancel: (r) => (sourceCancel = r) });
  await assertRejects(
    endless.pipeTo(new WritableStream({ write: () => Promise.reject(sinkFailure) })),
    (err) => assert(err === sinkFailure, "rejects with the sink error"),
  );
  assert(sourceCancel === sinkFailure, "the source was canceled with it");

  const open = new WritableStream();
  await ReadableStream.from([1]).pipeTo(open, { preventClose: true });
  const writer = open.getWriter();
  await writer.write(2);
  await writer.close();

  const controller = new AbortController();
  let canceledWith;
  let abortedWith;
  setTimeout(() => controller.abort("user abort"), 3);
  const abortable = new ReadableStream({ pull: (c) => sleep(1).then(() => c.enqueue(0)), cancel: (r) => (canceledWith = r) });
  const dest = new WritableStream({ abort: (r) => (abortedWith = r) });
  await assertRejects(abortable.pipeTo(dest, { signal: controller.signal }), (err) => assertEqual(err, "user abort"));
  assertEqual([canceledWith, abortedWith], ["user abort", "user abort"]);
  await assertRejects(ReadableStream.from([]).pipeTo("not a stream"), (err) => assert(err instanceof TypeError, "bad destination"));
});

test("a pipeline of transforms moves chunks in microtasks only", async () => {
  let timerFired = false;
  setTimeout(() => (timerFired = true), 0);
  const out = ReadableStream.from(Array.from({ length: 50 }, (_, i) => i))
    .pipeThrough(new TransformStream())
    .pipeThrough(new TransformStream({ transform: (chunk, c) => c.enqueue(chunk + 1) }))
    .pipeThrough(new TransformStream());
  const chunks = await collect(out);
  assertEqual([chunks.length, chunks[49], timerFired], [50, 50, false]);
});

// ---- 35-streams: encoding streams and an SSE-like pipeline

test("TextDecoderStream over split UTF-8; TextEncoderStream with a split surrogate pair", async () => {
  const encoded = new TextEncoder().encode("héllo 😀 wörld");
  const pieces = [];
  for (let i = 0; i < encoded.length; i += 3) pieces.push(encoded.slice(i, i + 3));
  const text = (await collect(ReadableStream.from(pieces).pipeThrough(new TextDecoderStream()))).join("");
  assertEqual(text, "héllo 😀 wörld");

  const emoji = "😀";
  const encodedChunks = await collect(ReadableStream.from(["a", emoji[0], emoji[1] + "b"]).pipeThrough(new TextEncoderStream()));
  const all = encodedChunks.flatMap((chunk) => [...chunk]);
  assertEqual(all, [0x61, 0xf0, 0x9f, 0x98, 0x80, 0x62]);
  const lone = await collect(ReadableStream.from(["x\ud83d"]).pipeThrough(new TextEncoderStream()));
  assertEqual(lone.flatMap((chunk) => [...chunk]), [0x78, 0xef, 0xbf, 0xbd]);

  const fatal = ReadableStream.from([bytes(0xff)]).pipeThrough(new TextDecoderStream("utf-8", { fatal: true }));
  await assertRejects(collect(fatal), (err) => assert(err instanceof TypeError, "fatal decoding error"));
  const notBytes = ReadableStream.from([undefined]).pipeThrough(new TextDecoderStream());
  await assertRejects(collect(notBytes), (err) => assert(err instanceof TypeError, "a chunk must be bytes"));
});

test("SSE-like pipeline: bytes → TextDecoderStream → line splitter", async () => {
  const body = "data: {\"a\":1}\n\ndata: héllo 😀\r\n\n: comment\ndata: end\n\n";
  const encoded = new TextEncoder().encode(body);
  // Chunks of 5 bytes, with a pause between them, as from the network.
  const network = new ReadableStream({
    start() {
      this.offset = 0;
    },
    async pull(controller) {
      await sleep(0);
      controller.enqueue(encoded.slice(this.offset, this.offset + 5));
      this.offset += 5;
      if (this.offset >= encoded.length) controller.close();
    },
  });
  let buffer = "";
  const lines = new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const parts = buffer.split(/\r?\n/);
      buffer = parts.pop();
      for (const line of parts) controller.enqueue(line);
    },
    flush(controller) {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
  const collected = await collect(network.pipeThrough(new TextDecoderStream()).pipeThrough(lines));
  assertEqual(collected, ['data: {"a":1}', "", "data: héllo 😀", "", ": comment", "data: end", ""]);
});

const EVENTSOURCE_PARSER = process.env.PBS_EVENTSOURCE_PARSER;

test(
  "eventsource-parser's EventSourceParserStream over our streams",
  async () => {
    const body = 'event: delta\ndata: {"text":"hé"}\nid: 1\n\ndata: line 1\ndata: line 2\n\n: ping\n\ndata: [DONE]\n\n';
    const encoded = new TextEncoder().encode(body);
    const pieces = [];
    for (let i = 0; i < encoded.length; i += 7) pieces.push(encoded.slice(i, i + 7));
    const events = await collect(
      ReadableStream.from(pieces).pipeThrough(new TextDecoderStream()).pipeThrough(new EP.EventSourceParserStream()),
    );
    assertEqual(
      events.map(({ event, data, id }) => ({ event, data, id })),
      [
        { event: "delta", data: '{"text":"hé"}', id: "1" },
        { data: "line 1\nline 2" },
        { data: "[DONE]" },
      ],
    );
  },
  { skip: !EVENTSOURCE_PARSER },
);

// -----------------------------------------------------------------------------
// The runner

function createContext() {
  const context = vm.createContext({});
  // (V8 itself gives every context a `console`; 10-base.js replaces it.)
  const nodeGlobals = vm.runInContext("[typeof ReadableStream, typeof TextDecoder, typeof setTimeout, typeof structuredClone]", context);
  if (nodeGlobals.some((type) => type !== "undefined")) throw new Error("the vm context already has Web globals");
  const host = createHost(context);
  context.__pbs = host.pbs;
  const files = PRELUDE.map(([name]) => name);
  for (const [file, source] of PRELUDE) {
    vm.runInContext(source, context, { filename: file });
  }
  for (const helper of CONTEXT_HELPERS) vm.runInContext(`globalThis.${helper.name} = ${helper}`, context);
  if (EVENTSOURCE_PARSER) vm.runInContext(fs.readFileSync(EVENTSOURCE_PARSER, "utf8"), context, { filename: "eventsource-parser" });
  return { context, host, files };
}

const drainMicrotasks = () => new Promise((resolve) => setImmediate(resolve));

/** Runs the loop as Rust does, until turn() says nothing is pending. */
async function runEventLoop(internal) {
  const deadline = performance.now() + TEST_TIMEOUT_MS;
  for (;;) {
    await drainMicrotasks();
    if (!internal.turn()) return;
    if (performance.now() > deadline) throw new Error("the event loop is still busy after the time limit");
  }
}

async function runTest({ fn }, context, host) {
  const body = vm.runInContext(`(${fn})`, context);
  let outcome = { settled: false };
  Promise.resolve()
    .then(() => body(host.controls))
    .then(
      () => (outcome = { settled: true }),
      (error) => (outcome = { settled: true, error }),
    );
  await runEventLoop(context.__pbsInternal);
  if (!outcome.settled) throw new Error("the test never finished: the event loop ran out of work");
  if ("error" in outcome) throw outcome.error;
}

async function main() {
  const { context, host, files } = createContext();
  console.log(`loaded ${files.join(", ")}`);
  const unhandled = [];
  process.on("unhandledRejection", (reason) => unhandled.push(reason));

  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const entry of tests) {
    if (entry.skip) {
      skipped++;
      console.log(`skip ${entry.name}`);
      continue;
    }
    host.controls.logs.length = 0;
    unhandled.length = 0;
    try {
      await runTest(entry, context, host);
      await drainMicrotasks();
      if (unhandled.length > 0) throw new Error(`unhandled rejection: ${describe(unhandled[0])}`);
      passed++;
      console.log(`ok   ${entry.name}`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${entry.name}\n     ${describe(err).split("\n").join("\n     ")}`);
    }
  }
  console.log(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
  process.exitCode = failed > 0 ? 1 : 0;
}

function describe(err) {
  return err?.stack ?? String(err);
}

await main();
