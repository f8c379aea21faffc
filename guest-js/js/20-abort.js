// 20-abort.js — AbortController and AbortSignal (DOM).
(() => {
  "use strict";

  const internal = globalThis.__pbsInternal;

  // Only this file constructs signals: `new AbortSignal()` is illegal for users.
  const CONSTRUCT = Symbol("AbortSignal.construct");
  let signalAbort; // (signal, reason) => void — "signal abort" of the DOM spec

  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    #onabort = null;
    // The `onabort` handler takes its place among the listeners when first set.
    #runOnabort = (event) => {
      if (typeof this.#onabort === "function") this.#onabort.call(this, event);
    };

    constructor(key) {
      if (key !== CONSTRUCT) throw new TypeError("Illegal constructor");
      super();
    }

    static {
      signalAbort = (signal, reason) => signal.#abort(reason);
    }

    #abort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
      this.dispatchEvent(new Event("abort"));
    }

    get aborted() {
      return this.#aborted;
    }

    get reason() {
      return this.#reason;
    }

    get onabort() {
      return this.#onabort;
    }

    set onabort(handler) {
      // WebIDL EventHandler: a non-object is null.
      const value = typeof handler === "function" || (typeof handler === "object" && handler !== null) ? handler : null;
      if (value !== null && this.#onabort === null) this.addEventListener("abort", this.#runOnabort);
      if (value === null) this.removeEventListener("abort", this.#runOnabort);
      this.#onabort = value;
    }

    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }

    static abort(reason = undefined) {
      const signal = new AbortSignal(CONSTRUCT);
      signal.#abort(reason);
      return signal;
    }

    static timeout(ms) {
      const delay = Number(ms);
      if (!Number.isFinite(delay) || delay < 0) {
        throw new TypeError("AbortSignal.timeout: the delay must be a non-negative number of milliseconds");
      }
      const signal = new AbortSignal(CONSTRUCT);
      const reason = () => new DOMException("The operation was aborted due to timeout", "TimeoutError");
      // `unref`: a pending timeout alone does not keep the invocation running.
      internal.setTimer(() => signal.#abort(reason()), Math.trunc(delay), { unref: true });
      return signal;
    }

    static any(signals) {
      const sources = [...signals];
      if (!sources.every((source) => source instanceof AbortSignal)) {
        throw new TypeError("AbortSignal.any: every item must be an AbortSignal");
      }
      const result = new AbortSignal(CONSTRUCT);
      const aborted = sources.find((source) => source.aborted);
      if (aborted !== undefined) {
        result.#abort(aborted.reason);
        return result;
      }
      const onAbort = (event) => {
        for (const source of sources) source.removeEventListener("abort", onAbort);
        result.#abort(event.target.reason);
      };
      for (const source of sources) source.addEventListener("abort", onAbort);
      return result;
    }
  }
  internal.exposeClass(AbortSignal);

  class AbortController {
    #signal = new AbortSignal(CONSTRUCT);

    get signal() {
      return this.#signal;
    }

    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }
  internal.exposeClass(AbortController);
})();
