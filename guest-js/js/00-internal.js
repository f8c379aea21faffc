// 00-internal.js — `globalThis.__pbsInternal`: the event loop (timers and host
// tokens) and small helpers shared by the other files of the prelude.
// See BRIDGE.md for the contract with the Rust side.
(() => {
  "use strict";

  const pbs = globalThis.__pbs;

  /** Defines a global the way the Web platform does: writable, configurable, not enumerable. */
  function expose(name, value) {
    Object.defineProperty(globalThis, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  /**
   * Exposes a class under its own name and gives its prototype the
   * `Symbol.toStringTag` a WebIDL interface has, so that
   * `Object.prototype.toString.call(x)` says `[object ReadableStream]`
   * (some libraries test values that way).
   */
  function exposeClass(Class) {
    Object.defineProperty(Class.prototype, Symbol.toStringTag, {
      value: Class.name,
      configurable: true,
    });
    expose(Class.name, Class);
  }

  /**
   * `String(err)` followed by its stack; never throws. V8-style stacks start
   * with the message, QuickJS ones only list the frames (and end with a newline).
   */
  function describeError(err) {
    try {
      const text = String(err);
      const stack = err !== null && typeof err === "object" ? err.stack : undefined;
      if (typeof stack !== "string" || stack.trim() === "") return text;
      const frames = stack.trimEnd();
      return frames.startsWith(text) ? frames : `${text}\n${frames}`;
    } catch {
      return "(an error that cannot be converted to a string)";
    }
  }

  /** Logs an error with its stack at level `error`. */
  function reportError(err, context) {
    const text = describeError(err);
    pbs.log("error", context ? `${context}: ${text}` : text);
  }

  // ---------------------------------------------------------------------------
  // Timers: a binary min-heap ordered by due time, then by creation order, so
  // that timers due at the same time run in the order they were created.
  // Every timer remembers its index in the heap, which makes cancelling O(log n).

  const heap = [];
  const timersById = new Map();
  let nextTimerId = 1;
  let nextSequence = 0;
  // Timers that keep the loop alive; `unref` timers (e.g. AbortSignal.timeout)
  // still fire while something else is pending but do not hold the loop open.
  let refTimers = 0;

  function before(a, b) {
    return a.due < b.due || (a.due === b.due && a.sequence < b.sequence);
  }

  function place(timer, index) {
    heap[index] = timer;
    timer.index = index;
  }

  function siftUp(index) {
    const timer = heap[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(timer, heap[parent])) break;
      place(heap[parent], index);
      index = parent;
    }
    place(timer, index);
  }

  function siftDown(index) {
    const timer = heap[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right], heap[left]) ? right : left;
      if (!before(heap[child], timer)) break;
      place(heap[child], index);
      index = child;
    }
    place(timer, index);
  }

  function heapPush(timer) {
    timer.sequence = nextSequence++;
    heap.push(timer);
    siftUp(heap.length - 1);
  }

  function heapRemove(timer) {
    const last = heap.pop();
    if (last !== timer) {
      place(last, timer.index);
      siftUp(timer.index);
      siftDown(last.index);
    }
    timer.index = -1;
  }

  /**
   * Schedules `callback` after `delay` ms (repeating every `delay` ms when
   * `repeat`). Returns a positive integer id for `clearTimer`.
   */
  function setTimer(callback, delay, { repeat = false, unref = false } = {}) {
    const id = nextTimerId++;
    const timer = { id, callback, delay, repeat, unref, due: pbs.now() + delay, sequence: 0, index: -1 };
    timersById.set(id, timer);
    if (!unref) refTimers++;
    heapPush(timer);
    return id;
  }

  function clearTimer(id) {
    const timer = timersById.get(id);
    if (timer === undefined) return;
    timersById.delete(id);
    if (!timer.unref) refTimers--;
    if (timer.index >= 0) heapRemove(timer);
  }

  /** Takes the earliest timer off the heap if it is due. */
  function takeDueTimer() {
    const first = heap[0];
    if (first === undefined || first.due > pbs.now()) return undefined;
    heapRemove(first);
    return first;
  }

  function runTimer(timer) {
    if (timer.repeat) {
      // Rescheduled before the callback runs, so the callback may clear it.
      timer.due = pbs.now() + timer.delay;
      heapPush(timer);
    } else {
      clearTimer(timer.id);
    }
    try {
      timer.callback();
    } catch (err) {
      reportError(err, "uncaught exception in a timer callback");
    }
  }

  // ---------------------------------------------------------------------------
  // Host tokens: one promise per token, resolved when `__pbs.wait` names it.

  const waiters = new Map(); // token -> {promise, resolve}

  function waitFor(token) {
    let waiter = waiters.get(token);
    if (waiter === undefined) {
      let resolve;
      const promise = new Promise((r) => (resolve = r));
      waiter = { promise, resolve };
      waiters.set(token, waiter);
    }
    return waiter.promise;
  }

  /** One `__pbs.wait` for all waited tokens; resolves the ready ones. */
  function pollTokens(timeoutMs) {
    const ready = pbs.wait([...waiters.keys()], timeoutMs);
    for (const token of ready) {
      const waiter = waiters.get(token);
      if (waiter === undefined) continue;
      waiters.delete(token);
      waiter.resolve();
    }
  }

  /**
   * One turn of the event loop; Rust calls it each time the microtask queue is
   * empty, until it returns false.
   *
   * It runs at most one due timer per turn: Rust drains the microtasks between
   * two turns, so promise reactions of one timer callback run before the next
   * timer, as in browsers and Node. After a timer it only polls the host
   * (timeout 0) — the callback's microtasks may start new work — so a busy
   * `setInterval(f, 0)` cannot starve I/O.
   */
  function turn() {
    const timer = takeDueTimer();
    if (timer !== undefined) {
      runTimer(timer);
      if (waiters.size > 0) pollTokens(0);
      return true;
    }
    if (refTimers === 0 && waiters.size === 0) return false;
    const next = heap[0];
    const timeout = next === undefined ? -1 : Math.max(0, Math.ceil(next.due - pbs.now()));
    pollTokens(timeout);
    return true;
  }

  // ---------------------------------------------------------------------------
  // Secret values this instance has read (`pb.secrets.get`). The host redacts
  // them from everything the guest logs, but the error bodies the runtime
  // writes itself (an uncaught error's 500, a hook's refusal) go to the client
  // through the guest, so they are redacted here, the way the host does it:
  // the exact value, and each line of 8 characters or more of a multi-line
  // value. An instance serves one invocation, so this never outlives it.

  const REDACTED = "[redacted]";
  const secretValues = [];

  function noteSecret(value) {
    if (typeof value !== "string" || value.length === 0) return;
    const parts = [value];
    if (value.includes("\n")) {
      for (const line of value.split("\n")) {
        const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
        if (trimmed.length >= 8) parts.push(trimmed);
      }
    }
    for (const part of parts) if (!secretValues.includes(part)) secretValues.push(part);
    // Longest first, so a value containing another is replaced whole.
    secretValues.sort((a, b) => b.length - a.length);
  }

  function redactSecrets(text) {
    let out = String(text);
    for (const value of secretValues) if (out.includes(value)) out = out.split(value).join(REDACTED);
    return out;
  }

  // Fixed: the engine calls into it on every request, so user code must not
  // be able to delete or replace it (its members stay writable for the other
  // prelude files, which fill them in).
  Object.defineProperty(globalThis, "__pbsInternal", { writable: false, configurable: false, enumerable: false, value: {
    expose,
    exposeClass,
    describeError,
    reportError,
    noteSecret,
    redactSecrets,
    setTimer,
    clearTimer,
    waitFor,
    turn,
    module: undefined, // the user's module namespace, set by Rust
    serve: undefined, // set by 60-serve.js
  } });
})();
