// 10-base.js — the small Web globals: DOMException, timers, queueMicrotask,
// structuredClone, atob/btoa, Event/EventTarget/CustomEvent, crypto,
// performance and console.
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const internal = globalThis.__pbsInternal;
  const { expose, exposeClass } = internal;

  // ---------------------------------------------------------------------------
  // DOMException (WebIDL). The legacy names keep their numeric `code` and the
  // matching constants (`ABORT_ERR` = 20, …) on the class and its prototype.

  const LEGACY_ERRORS = [
    ["IndexSizeError", "INDEX_SIZE_ERR"],
    ["DOMStringSizeError", "DOMSTRING_SIZE_ERR"],
    ["HierarchyRequestError", "HIERARCHY_REQUEST_ERR"],
    ["WrongDocumentError", "WRONG_DOCUMENT_ERR"],
    ["InvalidCharacterError", "INVALID_CHARACTER_ERR"],
    ["NoDataAllowedError", "NO_DATA_ALLOWED_ERR"],
    ["NoModificationAllowedError", "NO_MODIFICATION_ALLOWED_ERR"],
    ["NotFoundError", "NOT_FOUND_ERR"],
    ["NotSupportedError", "NOT_SUPPORTED_ERR"],
    ["InUseAttributeError", "INUSE_ATTRIBUTE_ERR"],
    ["InvalidStateError", "INVALID_STATE_ERR"],
    ["SyntaxError", "SYNTAX_ERR"],
    ["InvalidModificationError", "INVALID_MODIFICATION_ERR"],
    ["NamespaceError", "NAMESPACE_ERR"],
    ["InvalidAccessError", "INVALID_ACCESS_ERR"],
    ["ValidationError", "VALIDATION_ERR"],
    ["TypeMismatchError", "TYPE_MISMATCH_ERR"],
    ["SecurityError", "SECURITY_ERR"],
    ["NetworkError", "NETWORK_ERR"],
    ["AbortError", "ABORT_ERR"],
    ["URLMismatchError", "URL_MISMATCH_ERR"],
    ["QuotaExceededError", "QUOTA_EXCEEDED_ERR"],
    ["TimeoutError", "TIMEOUT_ERR"],
    ["InvalidNodeTypeError", "INVALID_NODE_TYPE_ERR"],
    ["DataCloneError", "DATA_CLONE_ERR"],
  ];
  const legacyCodes = new Map(LEGACY_ERRORS.map(([name], i) => [name, i + 1]));

  class DOMException extends Error {
    #name;
    #message;

    constructor(message = "", name = "Error") {
      // No message to super(): `message` and `name` are prototype getters, as in WebIDL.
      super();
      this.#message = String(message);
      this.#name = String(name);
    }

    get name() {
      return this.#name;
    }

    get message() {
      return this.#message;
    }

    get code() {
      return legacyCodes.get(this.#name) ?? 0;
    }
  }
  LEGACY_ERRORS.forEach(([, constant], i) => {
    const descriptor = { value: i + 1, enumerable: true };
    Object.defineProperty(DOMException, constant, descriptor);
    Object.defineProperty(DOMException.prototype, constant, descriptor);
  });
  exposeClass(DOMException);

  // ---------------------------------------------------------------------------
  // Timers and microtasks, on the event loop of 00-internal.js.

  function timerDelay(delay) {
    const ms = Number(delay);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }

  function timerCallback(handler, args, what) {
    // Browsers would eval a string handler; we refuse it, like Node does.
    if (typeof handler !== "function") {
      throw new TypeError(`${what}: the callback must be a function`);
    }
    return args.length === 0 ? handler : () => handler(...args);
  }

  function setTimeout(handler, delay = 0, ...args) {
    return internal.setTimer(timerCallback(handler, args, "setTimeout"), timerDelay(delay));
  }

  function setInterval(handler, delay = 0, ...args) {
    const callback = timerCallback(handler, args, "setInterval");
    return internal.setTimer(callback, timerDelay(delay), { repeat: true });
  }

  // Timeouts and intervals share one id space, so either function clears both.
  function clearTimeout(id) {
    if (typeof id === "number") internal.clearTimer(id);
  }

  function queueMicrotask(callback) {
    if (typeof callback !== "function") {
      throw new TypeError("queueMicrotask: the callback must be a function");
    }
    // An exception is reported, as the HTML spec says, not turned into a rejection.
    Promise.resolve().then(() => {
      try {
        callback();
      } catch (err) {
        internal.reportError(err, "uncaught exception in a microtask");
      }
    });
  }

  expose("setTimeout", setTimeout);
  expose("setInterval", setInterval);
  expose("clearTimeout", clearTimeout);
  expose("clearInterval", clearTimeout);
  expose("queueMicrotask", queueMicrotask);

  // ---------------------------------------------------------------------------
  // structuredClone (HTML "StructuredSerialize/Deserialize" in one pass).
  // The `transfer` option is ignored: buffers named there are copied, not moved.

  const TypedArray = Object.getPrototypeOf(Uint8Array);
  const typedArrayName = Object.getOwnPropertyDescriptor(TypedArray.prototype, Symbol.toStringTag).get;
  const ERROR_CONSTRUCTORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

  function dataCloneError(value) {
    return new DOMException(`${String(value)} could not be cloned.`, "DataCloneError");
  }

  /** CreateDataProperty: a plain assignment would run a `__proto__` setter. */
  function defineData(target, key, value) {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  }

  function structuredClone(value) {
    return cloneValue(value, new Map());
  }

  /** `memory` maps originals to clones: it keeps shared references shared and ends cycles. */
  function cloneValue(value, memory) {
    if (typeof value === "symbol" || typeof value === "function") throw dataCloneError(value);
    if (value === null || typeof value !== "object") return value;
    const known = memory.get(value);
    if (known !== undefined) return known;

    const primitive = boxedPrimitive(value);
    if (primitive !== undefined) return remember(memory, value, Object(primitive));
    if (value instanceof Date) return remember(memory, value, new Date(value.getTime()));
    if (value instanceof RegExp) return remember(memory, value, new RegExp(value.source, value.flags));
    if (value instanceof ArrayBuffer) return remember(memory, value, value.slice(0));
    if (ArrayBuffer.isView(value)) return cloneView(value, memory);
    if (value instanceof Map) return cloneMap(value, memory);
    if (value instanceof Set) return cloneSet(value, memory);
    if (value instanceof DOMException) {
      return remember(memory, value, new DOMException(value.message, value.name));
    }
    if (value instanceof Error) return cloneError(value, memory);
    if (
      value instanceof Promise ||
      value instanceof WeakMap ||
      value instanceof WeakSet ||
      value instanceof WeakRef
    ) {
      throw dataCloneError(value);
    }
    const result = remember(memory, value, Array.isArray(value) ? new Array(value.length) : {});
    for (const key of Object.keys(value)) defineData(result, key, cloneValue(value[key], memory));
    return result;
  }

  function remember(memory, original, clone) {
    memory.set(original, clone);
    return clone;
  }

  /** The primitive inside a Boolean/Number/String/BigInt wrapper object, else undefined. */
  function boxedPrimitive(value) {
    for (const Type of [Boolean, Number, String, BigInt]) {
      try {
        return Type.prototype.valueOf.call(value);
      } catch {
        // not this kind of wrapper
      }
    }
    return undefined;
  }

  function cloneView(view, memory) {
    const buffer = cloneValue(view.buffer, memory);
    const clone =
      view instanceof DataView
        ? new DataView(buffer, view.byteOffset, view.byteLength)
        : new globalThis[typedArrayName.call(view)](buffer, view.byteOffset, view.length);
    return remember(memory, view, clone);
  }

  function cloneMap(map, memory) {
    const result = remember(memory, map, new Map());
    for (const [key, item] of [...map]) result.set(cloneValue(key, memory), cloneValue(item, memory));
    return result;
  }

  function cloneSet(set, memory) {
    const result = remember(memory, set, new Set());
    for (const item of [...set]) result.add(cloneValue(item, memory));
    return result;
  }

  function cloneError(error, memory) {
    const name = String(error.name);
    const Constructor = Object.hasOwn(ERROR_CONSTRUCTORS, name) ? ERROR_CONSTRUCTORS[name] : Error;
    const message = Object.getOwnPropertyDescriptor(error, "message");
    const result = remember(memory, error, message ? new Constructor(String(message.value)) : new Constructor());
    // Not required by HTML, but kept by V8 and Firefox, and what a reader of the clone expects.
    if (typeof error.stack === "string") {
      Object.defineProperty(result, "stack", { value: error.stack, writable: true, configurable: true });
    }
    if (Object.hasOwn(error, "cause")) {
      const cause = cloneValue(error.cause, memory);
      Object.defineProperty(result, "cause", { value: cause, writable: true, configurable: true });
    }
    return result;
  }

  expose("structuredClone", structuredClone);

  // ---------------------------------------------------------------------------
  // atob / btoa ("forgiving-base64", HTML).

  const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const BASE64_VALUES = new Map([...BASE64].map((ch, i) => [ch, i]));

  /** Bytes (0..255 each) as a "binary string"; in slices, because of argument-count limits. */
  function binaryString(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return out;
  }

  function btoa(data) {
    if (arguments.length === 0) throw new TypeError("btoa: 1 argument required");
    const text = String(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0xff) {
        throw new DOMException(
          "The string to be encoded contains characters outside of the Latin1 range.",
          "InvalidCharacterError",
        );
      }
      bytes[i] = code;
    }
    let out = "";
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
      out += BASE64[n >> 18] + BASE64[(n >> 12) & 63];
      out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63] : "=";
      out += i + 2 < bytes.length ? BASE64[n & 63] : "=";
    }
    return out;
  }

  function atob(data) {
    if (arguments.length === 0) throw new TypeError("atob: 1 argument required");
    let text = String(data).replace(/[\t\n\f\r ]/g, "");
    if (text.length % 4 === 0) text = text.replace(/==?$/, "");
    if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) {
      throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
    }
    const bytes = new Uint8Array(Math.floor((text.length * 6) / 8));
    let buffer = 0;
    let bits = 0;
    let length = 0;
    for (const ch of text) {
      buffer = ((buffer << 6) | BASE64_VALUES.get(ch)) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes[length++] = buffer >> bits;
      }
    }
    // Leftover bits (fewer than 8) are discarded, as the spec says.
    return binaryString(bytes);
  }

  expose("btoa", btoa);
  expose("atob", atob);

  // ---------------------------------------------------------------------------
  // Event, CustomEvent, EventTarget (DOM). There is no tree here, so dispatch
  // only has the "at target" phase; bubbling and capture have nothing to walk.

  const eventStates = new WeakMap();

  function eventState(event) {
    const state = eventStates.get(event);
    if (state === undefined) throw new TypeError("not an Event");
    return state;
  }

  class Event {
    constructor(type, init = undefined) {
      if (arguments.length === 0) throw new TypeError("Event: 1 argument required");
      eventStates.set(this, {
        type: String(type),
        bubbles: Boolean(init?.bubbles),
        cancelable: Boolean(init?.cancelable),
        composed: Boolean(init?.composed),
        timeStamp: pbs.now(),
        target: null,
        currentTarget: null,
        phase: Event.NONE,
        dispatching: false,
        canceled: false,
        inPassiveListener: false,
        stopPropagation: false,
        stopImmediatePropagation: false,
      });
    }

    get type() {
      return eventState(this).type;
    }
    get target() {
      return eventState(this).target;
    }
    get srcElement() {
      return eventState(this).target;
    }
    get currentTarget() {
      return eventState(this).currentTarget;
    }
    get eventPhase() {
      return eventState(this).phase;
    }
    get bubbles() {
      return eventState(this).bubbles;
    }
    get cancelable() {
      return eventState(this).cancelable;
    }
    get composed() {
      return eventState(this).composed;
    }
    get defaultPrevented() {
      return eventState(this).canceled;
    }
    get returnValue() {
      return !eventState(this).canceled;
    }
    set returnValue(value) {
      if (!value) this.preventDefault();
    }
    get cancelBubble() {
      return eventState(this).stopPropagation;
    }
    set cancelBubble(value) {
      if (value) eventState(this).stopPropagation = true;
    }
    get isTrusted() {
      return false;
    }
    get timeStamp() {
      return eventState(this).timeStamp;
    }

    composedPath() {
      const state = eventState(this);
      return state.dispatching ? [state.currentTarget] : [];
    }

    preventDefault() {
      const state = eventState(this);
      if (state.cancelable && !state.inPassiveListener) state.canceled = true;
    }

    stopPropagation() {
      eventState(this).stopPropagation = true;
    }

    stopImmediatePropagation() {
      const state = eventState(this);
      state.stopPropagation = true;
      state.stopImmediatePropagation = true;
    }
  }
  ["NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE"].forEach((name, value) => {
    Object.defineProperty(Event, name, { value, enumerable: true });
    Object.defineProperty(Event.prototype, name, { value, enumerable: true });
  });
  exposeClass(Event);

  class CustomEvent extends Event {
    #detail;

    constructor(type, init = undefined) {
      super(type, init);
      this.#detail = init?.detail ?? null;
    }

    get detail() {
      return this.#detail;
    }
  }
  exposeClass(CustomEvent);

  function listenerOptions(options) {
    if (typeof options === "boolean") return { capture: options, once: false, passive: false, signal: undefined };
    return {
      capture: Boolean(options?.capture),
      once: Boolean(options?.once),
      passive: Boolean(options?.passive),
      signal: options?.signal,
    };
  }

  class EventTarget {
    #listeners = new Map(); // type -> [{callback, capture, once, passive, removed}]

    addEventListener(type, callback, options = undefined) {
      const { capture, once, passive, signal } = listenerOptions(options);
      if (callback === null || callback === undefined) return;
      if (typeof callback !== "function" && typeof callback !== "object") {
        throw new TypeError("addEventListener: the listener must be a function or an object");
      }
      if (signal !== undefined && signal.aborted) return;
      type = String(type);
      let list = this.#listeners.get(type);
      if (list === undefined) this.#listeners.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      const listener = { callback, capture, once, passive, removed: false };
      list.push(listener);
      signal?.addEventListener("abort", () => this.#remove(type, listener));
    }

    removeEventListener(type, callback, options = undefined) {
      const { capture } = listenerOptions(options);
      type = String(type);
      const listener = this.#listeners.get(type)?.find((l) => l.callback === callback && l.capture === capture);
      if (listener !== undefined) this.#remove(type, listener);
    }

    #remove(type, listener) {
      // Marked too, because a dispatch in progress iterates over a copy of the list.
      listener.removed = true;
      const list = this.#listeners.get(type);
      const index = list?.indexOf(listener) ?? -1;
      if (index >= 0) list.splice(index, 1);
    }

    dispatchEvent(event) {
      const state = eventState(event);
      if (state.dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
      state.dispatching = true;
      state.target = this;
      state.currentTarget = this;
      state.phase = Event.AT_TARGET;
      try {
        this.#invoke(event, state);
      } finally {
        state.dispatching = false;
        state.currentTarget = null;
        state.phase = Event.NONE;
        state.stopPropagation = false;
        state.stopImmediatePropagation = false;
      }
      return !state.canceled;
    }

    #invoke(event, state) {
      const list = this.#listeners.get(state.type);
      if (list === undefined) return;
      for (const listener of [...list]) {
        if (listener.removed) continue;
        if (listener.once) this.#remove(state.type, listener);
        state.inPassiveListener = listener.passive;
        try {
          callListener(listener.callback, this, event);
        } catch (err) {
          // As in browsers: a throwing listener is reported, the others still run.
          internal.reportError(err, `uncaught exception in a "${state.type}" event listener`);
        }
        state.inPassiveListener = false;
        if (state.stopImmediatePropagation) break;
      }
    }
  }
  exposeClass(EventTarget);

  function callListener(callback, target, event) {
    if (typeof callback === "function") {
      callback.call(target, event);
      return;
    }
    const handleEvent = callback.handleEvent;
    if (typeof handleEvent !== "function") throw new TypeError("the listener has no handleEvent method");
    handleEvent.call(callback, event);
  }

  // ---------------------------------------------------------------------------
  // crypto's random functions (the `Crypto` object and `subtle` are in
  // 45-crypto.js) and performance.

  const INTEGER_ARRAYS = new Set([
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "BigInt64Array",
    "BigUint64Array",
  ]);

  function getRandomValues(array) {
    if (!ArrayBuffer.isView(array)) throw new TypeError("getRandomValues: the argument must be an ArrayBufferView");
    if (!INTEGER_ARRAYS.has(typedArrayName.call(array))) {
      throw new DOMException("The provided ArrayBufferView is not an integer array type.", "TypeMismatchError");
    }
    if (array.byteLength > 65536) {
      throw new DOMException(
        `The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536).`,
        "QuotaExceededError",
      );
    }
    if (array.byteLength > 0) {
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(pbs.randomBytes(array.byteLength));
    }
    return array;
  }

  function randomUUID() {
    const bytes = pbs.randomBytes(16);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10xx
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  expose("crypto", { getRandomValues, randomUUID });

  const performance = {
    now: () => pbs.now(),
    // Computed on each read rather than stored: a value stored while the
    // snapshot is made would be the build's time, not the invocation's.
    get timeOrigin() {
      return Date.now() - pbs.now();
    },
    toJSON() {
      return { timeOrigin: this.timeOrigin };
    },
  };
  expose("performance", performance);

  // ---------------------------------------------------------------------------
  // self, navigator.userAgent and reportError (WinterTC's Minimum Common API).

  expose("self", globalThis);

  const USER_AGENT = "pb-serverless";
  class Navigator {
    constructor() {
      throw new TypeError("Illegal constructor");
    }
    // A single product token, as the Minimum Common API recommends.
    get userAgent() {
      return USER_AGENT;
    }
  }
  exposeClass(Navigator);
  expose("navigator", Object.create(Navigator.prototype));

  /** HTML's reportError: the error goes to the log, as an uncaught one would. */
  function reportError(error) {
    if (arguments.length === 0) throw new TypeError("reportError: 1 argument required");
    internal.reportError(error, "reportError");
  }
  expose("reportError", reportError);

  // ---------------------------------------------------------------------------
  // inspect: a safe, Node-like rendering of any value for the console.

  const INSPECT_CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const MAX_ITEMS = 100;
  const BREAK_LENGTH = 80;
  const STRING_ESCAPES = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\\": "\\\\" };

  /** `options.depth`: how many levels of nested objects are shown (2; null for all). */
  function inspect(value, options = undefined) {
    const depth = options?.depth === undefined ? 2 : (options.depth ?? Infinity);
    return formatValue(value, depth, [], "");
  }

  function formatValue(value, depth, seen, indent) {
    if (typeof value === "function") return formatFunction(value);
    if (value === null || typeof value !== "object") return formatPrimitive(value);
    const custom = value[INSPECT_CUSTOM];
    if (typeof custom === "function") {
      const result = custom.call(value, depth, { depth }, inspect);
      if (result !== value) return typeof result === "string" ? result : formatValue(result, depth, seen, indent);
    }
    if (seen.includes(value)) return "[Circular]";
    if (value instanceof Error) return formatError(value, depth, seen, indent);
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
    if (value instanceof RegExp) return String(value);
    const primitive = boxedPrimitive(value);
    if (primitive !== undefined) return `[${constructorName(value)}: ${formatPrimitive(primitive)}]`;
    if (depth < 0) return `[${Array.isArray(value) ? "Array" : constructorName(value) || "Object"}]`;
    seen.push(value);
    try {
      return formatObject(value, depth, seen, indent);
    } finally {
      seen.pop();
    }
  }

  function formatPrimitive(value) {
    if (typeof value === "string") return quote(value);
    if (typeof value === "bigint") return `${value}n`;
    if (Object.is(value, -0)) return "-0";
    return String(value);
  }

  /** Quotes like Node: single quotes unless the string contains them. */
  function quote(text) {
    const q = !text.includes("'") ? "'" : !text.includes('"') ? '"' : !text.includes("`") ? "`" : "'";
    const escaped = text.replace(/[\x00-\x1f\x7f\\'"`]/g, (ch) => {
      if (ch === "'" || ch === '"' || ch === "`") return ch === q ? `\\${ch}` : ch;
      return STRING_ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
    });
    return q + escaped + q;
  }

  function formatFunction(fn) {
    const source = Function.prototype.toString.call(fn);
    const name = fn.name || "(anonymous)";
    return source.startsWith("class") ? `[class ${name}]` : fn.name ? `[Function: ${name}]` : `[Function ${name}]`;
  }

  function constructorName(value) {
    const proto = Object.getPrototypeOf(value);
    if (proto === null) return "";
    const ctor = Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
    return typeof ctor === "function" ? ctor.name : constructorName(proto);
  }

  function formatError(err, depth, seen, indent) {
    const text = internal.describeError(err).split("\n").join(`\n${indent}`);
    const keys = Object.keys(err).filter((key) => key !== "stack" && key !== "message" && key !== "cause");
    const hasCause = Object.hasOwn(err, "cause");
    if ((keys.length === 0 && !hasCause) || depth < 0) return text;
    seen.push(err);
    try {
      const entries = keys.map((key) => formatProperty(err, key, depth, seen, indent));
      if (hasCause) entries.unshift(`[cause]: ${formatValue(err.cause, depth - 1, seen, `${indent}  `)}`);
      return wrap(text, entries, "{", "}", indent);
    } finally {
      seen.pop();
    }
  }

  function formatObject(value, depth, seen, indent) {
    const name = constructorName(value);
    if (Array.isArray(value)) return wrap("", formatArrayItems(value, depth, seen, indent), "[", "]", indent);
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const items = formatList(value, (item) => formatPrimitive(item));
      return wrap(`${name}(${value.length})`, items, "[", "]", indent);
    }
    if (value instanceof ArrayBuffer) return formatArrayBuffer(value);
    if (value instanceof Map) {
      const items = formatList([...value], ([k, v]) => {
        const inner = `${indent}  `;
        return `${formatValue(k, depth - 1, seen, inner)} => ${formatValue(v, depth - 1, seen, inner)}`;
      });
      return wrap(`${name}(${value.size})`, items, "{", "}", indent);
    }
    if (value instanceof Set) {
      const items = formatList([...value], (item) => formatValue(item, depth - 1, seen, `${indent}  `));
      return wrap(`${name}(${value.size})`, items, "{", "}", indent);
    }
    const keys = [...Object.keys(value), ...Object.getOwnPropertySymbols(value).filter((s) => Object.propertyIsEnumerable.call(value, s))];
    const entries = keys.map((key) => formatProperty(value, key, depth, seen, indent));
    const prefix = name === "" ? "[Object: null prototype]" : name === "Object" ? "" : name;
    return wrap(prefix, entries, "{", "}", indent);
  }

  /** At most MAX_ITEMS items, then "... N more items". */
  function formatList(items, format) {
    const shown = Array.from(items.length > MAX_ITEMS ? items.slice(0, MAX_ITEMS) : items, format);
    if (items.length > MAX_ITEMS) shown.push(`... ${items.length - MAX_ITEMS} more items`);
    return shown;
  }

  function formatArrayItems(array, depth, seen, indent) {
    const items = [];
    let holes = 0;
    const flushHoles = () => {
      if (holes > 0) items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
      holes = 0;
    };
    const shown = Math.min(array.length, MAX_ITEMS);
    for (let i = 0; i < shown; i++) {
      if (!Object.hasOwn(array, i)) {
        holes++;
        continue;
      }
      flushHoles();
      items.push(formatValue(array[i], depth - 1, seen, `${indent}  `));
    }
    flushHoles();
    if (array.length > MAX_ITEMS) items.push(`... ${array.length - MAX_ITEMS} more items`);
    for (const key of Object.keys(array)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) items.push(formatProperty(array, key, depth, seen, indent));
    }
    return items;
  }

  function formatArrayBuffer(buffer) {
    const bytes = new Uint8Array(buffer, 0, Math.min(buffer.byteLength, MAX_ITEMS));
    let hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
    if (buffer.byteLength > MAX_ITEMS) hex += ` ... ${buffer.byteLength - MAX_ITEMS} more bytes`;
    return `ArrayBuffer { [Uint8Contents]: <${hex}>, byteLength: ${buffer.byteLength} }`;
  }

  /** `key: value`; accessors are named, never called (they could throw or have effects). */
  function formatProperty(object, key, depth, seen, indent) {
    const label =
      typeof key === "symbol" ? `[${String(key)}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? key : quote(key);
    const descriptor = Object.getOwnPropertyDescriptor(object, key);
    if (descriptor.get || descriptor.set) {
      return `${label}: ${descriptor.get && descriptor.set ? "[Getter/Setter]" : descriptor.get ? "[Getter]" : "[Setter]"}`;
    }
    return `${label}: ${formatValue(descriptor.value, depth - 1, seen, `${indent}  `)}`;
  }

  /**
   * One line when it fits in BREAK_LENGTH columns, else one entry per line
   * (like Node). Long lists of short items (numbers, say) are packed several
   * to a line instead, as Node does for arrays.
   */
  function wrap(prefix, entries, open, close, indent) {
    const head = prefix === "" ? open : `${prefix} ${open}`;
    if (entries.length === 0) return `${head}${close}`;
    const oneLine = `${head} ${entries.join(", ")} ${close}`;
    if (!oneLine.includes("\n") && indent.length + oneLine.length <= BREAK_LENGTH) return oneLine;
    const short = (entry) => (entry.length <= 24 || entry.startsWith("... ")) && !entry.includes("\n");
    const packable = entries.length > 6 && entries.every(short);
    const lines = packable ? packLines(entries, BREAK_LENGTH - indent.length - 2) : entries;
    return `${head}\n${indent}  ${lines.join(`,\n${indent}  `)}\n${indent}${close}`;
  }

  /** Entries joined by ", " into lines of at most `width` columns. */
  function packLines(entries, width) {
    const lines = [];
    let line = "";
    for (const entry of entries) {
      if (line !== "" && line.length + 2 + entry.length + 1 > width) {
        lines.push(line);
        line = "";
      }
      line = line === "" ? entry : `${line}, ${entry}`;
    }
    lines.push(line);
    return lines;
  }

  // ---------------------------------------------------------------------------
  // console: printf-like formatting as in Node (`util.format`), one host log
  // line per call.

  function isNativeFunction(fn) {
    return /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn));
  }

  /** `%s`: String() for primitives and objects with their own toString, else a shallow inspect. */
  function formatAsString(arg) {
    if (typeof arg === "bigint") return `${arg}n`;
    if (Object.is(arg, -0)) return "-0";
    if (arg === null || (typeof arg !== "object" && typeof arg !== "function")) return String(arg);
    if (typeof arg === "function" || (typeof arg.toString === "function" && !isNativeFunction(arg.toString))) {
      return String(arg);
    }
    return inspect(arg, { depth: 0 });
  }

  function formatAsNumber(arg, parse) {
    if (typeof arg === "bigint") return `${arg}n`;
    if (typeof arg === "symbol") return "NaN";
    return formatPrimitive(parse(arg));
  }

  function formatAsJSON(arg) {
    try {
      return String(JSON.stringify(arg));
    } catch (err) {
      if (err instanceof TypeError && /circular/i.test(err.message)) return "[Circular]";
      throw err;
    }
  }

  const SUBSTITUTIONS = {
    s: formatAsString,
    d: (arg) => formatAsNumber(arg, Number),
    i: (arg) => formatAsNumber(arg, (x) => parseInt(x, 10)),
    f: (arg) => formatAsNumber(arg, parseFloat),
    j: formatAsJSON,
    o: (arg) => inspect(arg, { depth: 4 }),
    O: (arg) => inspect(arg),
    c: () => "", // CSS styling: consumes its argument, shows nothing
  };

  function format(args) {
    let rest = args;
    let head = "";
    if (typeof args[0] === "string") {
      let next = 1;
      head = args[0].replace(/%([sdifjoOc%])/g, (match, kind) => {
        if (kind === "%") return "%";
        if (next >= args.length) return match;
        return SUBSTITUTIONS[kind](args[next++]);
      });
      rest = args.slice(next);
      if (rest.length === 0) return head;
      head += " ";
    }
    return head + rest.map((arg) => (typeof arg === "string" ? arg : inspect(arg))).join(" ");
  }

  /** An object literal's kind of object (not an array, class instance, Error, Map …). */
  function isPlainObject(value) {
    if (value === null || typeof value !== "object") return false;
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  }

  /**
   * `console.log("Processing", { userId: 1 })`: after a string message,
   * plain objects are the line's structured fields (JSON, types kept) rather
   * than text; anything else is formatted into the message as Node does.
   * Returns [text, fieldsJson | undefined].
   */
  function formatWithFields(args) {
    if (typeof args[0] !== "string" || !args.slice(1).some(isPlainObject)) return [format(args), undefined];
    let next = 1;
    const head = args[0].replace(/%([sdifjoOc%])/g, (match, kind) => {
      if (kind === "%") return "%";
      if (next >= args.length) return match;
      return SUBSTITUTIONS[kind](args[next++]);
    });
    const text = [head];
    const fields = {};
    let any = false;
    for (const arg of args.slice(next)) {
      if (isPlainObject(arg)) {
        try {
          const json = JSON.stringify(arg);
          if (json !== undefined) {
            Object.assign(fields, JSON.parse(json));
            any = true;
            continue;
          }
        } catch {
          // Circular or a BigInt: shown as text instead.
        }
      }
      text.push(typeof arg === "string" ? arg : inspect(arg));
    }
    return [text.join(" "), any ? JSON.stringify(fields) : undefined];
  }

  let groupIndent = "";

  function write(level, text, fields = undefined) {
    const indented = groupIndent === "" ? text : groupIndent + text.split("\n").join(`\n${groupIndent}`);
    if (fields === undefined) pbs.log(level, indented);
    else pbs.log(level, indented, fields);
  }

  const logWith = (level) => (...args) => write(level, ...formatWithFields(args));

  /** The stack frames of the caller of console.trace (without this function's and trace's own). */
  function callerStack() {
    const frames = String(new Error().stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
    return frames.slice(2).join("\n");
  }

  const timers = new Map();
  const counters = new Map();

  function elapsed(label) {
    return `${label}: ${(pbs.now() - timers.get(label)).toFixed(3)}ms`;
  }

  const console = {
    log: logWith("info"),
    info: logWith("info"),
    debug: logWith("debug"),
    warn: logWith("warn"),
    error: logWith("error"),
    trace: (...args) => write("error", `Trace${args.length > 0 ? `: ${format(args)}` : ""}\n${callerStack()}`),
    assert(condition, ...args) {
      if (condition) return;
      if (typeof args[0] === "string") args[0] = `Assertion failed: ${args[0]}`;
      else args.unshift("Assertion failed");
      write("error", format(args));
    },
    dir: (value, options = undefined) => write("info", inspect(value, options)),
    dirxml: (...args) => write("info", format(args)),
    table: (...args) => write("info", format(args)),
    group(...args) {
      if (args.length > 0) write("info", format(args));
      groupIndent += "  ";
    },
    groupCollapsed(...args) {
      console.group(...args);
    },
    groupEnd() {
      groupIndent = groupIndent.slice(2);
    },
    time(label = "default") {
      label = String(label);
      if (timers.has(label)) write("warn", `Label '${label}' already exists for console.time()`);
      else timers.set(label, pbs.now());
    },
    timeLog(label = "default", ...args) {
      label = String(label);
      if (!timers.has(label)) write("warn", `No such label '${label}' for console.timeLog()`);
      else write("info", args.length > 0 ? `${elapsed(label)} ${format(args)}` : elapsed(label));
    },
    timeEnd(label = "default") {
      label = String(label);
      if (!timers.has(label)) {
        write("warn", `No such label '${label}' for console.timeEnd()`);
        return;
      }
      write("info", elapsed(label));
      timers.delete(label);
    },
    count(label = "default") {
      label = String(label);
      const count = (counters.get(label) ?? 0) + 1;
      counters.set(label, count);
      write("info", `${label}: ${count}`);
    },
    countReset(label = "default") {
      counters.delete(String(label));
    },
  };
  expose("console", console);
})();
