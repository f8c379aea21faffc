// 35-streams.js — WHATWG Streams: ReadableStream (default and byte streams,
// with default and BYOB readers), WritableStream, TransformStream, pipes, tee,
// async iteration, the queuing strategies, TextEncoderStream and
// TextDecoderStream. (A byte stream tees like a default stream: both
// branches get the same chunk objects rather than copies.)
//
// The algorithms follow the spec (https://streams.spec.whatwg.org/) step by
// step, under camelCase versions of its names, because promise ordering is
// observable and libraries rely on it. They work on internal records (the
// spec's internal slots); each public object is a thin facade whose record is
// found in `slots`. Records point back to their facade through `api`, which is
// what user callbacks receive.
(() => {
  "use strict";

  const { exposeClass } = globalThis.__pbsInternal;
  // Captured now, so that user code replacing the globals cannot break streams.
  const { AbortController, AbortSignal, TextDecoder, TextEncoder, queueMicrotask } = globalThis;

  // ---------------------------------------------------------------------------
  // Shared helpers

  const slots = new WeakMap(); // facade -> record

  /** The record behind a facade of the given kind, or a TypeError. */
  function own(value, kind) {
    const record = typeof value === "object" && value !== null ? slots.get(value) : undefined;
    if (record === undefined || record.kind !== kind) throw new TypeError(`Illegal invocation: not a ${kind}`);
    return record;
  }

  function bind(api, record) {
    slots.set(api, record);
    record.api = api;
    return record;
  }

  /** A record with a new facade made without running the public constructor. */
  function instantiate(Class, record) {
    return bind(Object.create(Class.prototype), record);
  }

  const noop = () => {};

  function isObject(value) {
    return (typeof value === "object" && value !== null) || typeof value === "function";
  }

  /** The spec's [[PromiseIsHandled]] = true: no unhandled-rejection report. */
  function markHandled(promise) {
    promise.then(undefined, noop);
    return promise;
  }

  /** A promise with its settle functions and a `state` (the spec reads [[PromiseState]]). */
  function deferred() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const d = {
      promise,
      state: "pending",
      resolve(value) {
        if (d.state !== "pending") return;
        d.state = "fulfilled";
        resolve(value);
      },
      reject(reason) {
        if (d.state !== "pending") return;
        d.state = "rejected";
        reject(reason);
      },
    };
    return d;
  }

  function resolvedDeferred(value) {
    const d = deferred();
    d.resolve(value);
    return d;
  }

  /** A rejected promise nobody has to handle (for `closed`/`ready` that may never be read). */
  function rejectedDeferred(reason) {
    const d = deferred();
    d.reject(reason);
    markHandled(d.promise);
    return d;
  }

  /**
   * WebIDL "a promise resolved with": always a new promise. Unlike
   * Promise.resolve(), it does not return a promise it is given, and adopting
   * that promise takes two more microtasks, which the spec's ordering counts.
   */
  function promiseResolvedWith(value) {
    return new Promise((resolve) => resolve(value));
  }

  // Captured: user code patching Function.prototype.call must not reach us.
  const { apply } = Reflect;

  /**
   * WebIDL: an operation or attribute that returns a promise reports every
   * error as a rejection, a failed brand check or a bad argument included.
   * Wraps the named methods and getters of `prototype` that way.
   */
  function rejectInsteadOfThrowing(prototype, names) {
    for (const name of names) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
      const slot = descriptor.get !== undefined ? "get" : "value";
      const original = descriptor[slot];
      descriptor[slot] = {
        [name](...args) {
          try {
            return apply(original, this, args);
          } catch (err) {
            return Promise.reject(err);
          }
        },
      }[name];
      Object.defineProperty(prototype, name, descriptor);
    }
  }

  /** Calls a user callback; the result as a promise, a throw as a rejected one. */
  function promiseCall(fn, thisArg, args) {
    try {
      return promiseResolvedWith(apply(fn, thisArg, args));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A FIFO with O(1) shift (Array#shift is O(n)). */
  class Queue {
    #items = [];
    #head = 0;

    get length() {
      return this.#items.length - this.#head;
    }

    push(item) {
      this.#items.push(item);
    }

    peek() {
      return this.#items[this.#head];
    }

    shift() {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return item;
    }
  }

  // "Queue-with-sizes" operations on a controller record.

  function enqueueValueWithSize(container, value, size) {
    if (typeof size !== "number" || !(size >= 0) || size === Infinity) {
      throw new RangeError("The size of a chunk must be a finite, non-negative number");
    }
    container.queue.push({ value, size });
    container.queueTotalSize += size;
  }

  function dequeueValue(container) {
    const { value, size } = container.queue.shift();
    // Floating-point subtraction can go slightly below zero.
    container.queueTotalSize = Math.max(0, container.queueTotalSize - size);
    return value;
  }

  function peekQueueValue(container) {
    return container.queue.peek().value;
  }

  function resetQueue(container) {
    container.queue = new Queue();
    container.queueTotalSize = 0;
  }

  // The WebIDL dictionaries passed to the constructors. WebIDL reads their
  // members in alphabetical order, strategies before the source/sink/transformer.

  /** QueuingStrategy: {highWaterMark?: number, size?: function}. */
  function convertStrategy(strategy) {
    if (strategy === undefined || strategy === null) return {};
    if (!isObject(strategy)) throw new TypeError("A queuing strategy must be an object");
    const hwm = strategy.highWaterMark;
    const highWaterMark = hwm === undefined ? undefined : Number(hwm);
    const size = strategy.size;
    if (size !== undefined && typeof size !== "function") throw new TypeError("The strategy's size must be a function");
    return { highWaterMark, size };
  }

  function extractHighWaterMark(strategy, defaultHWM) {
    const hwm = strategy.highWaterMark;
    if (hwm === undefined) return defaultHWM;
    if (Number.isNaN(hwm) || hwm < 0) throw new RangeError("highWaterMark must be a non-negative number");
    return hwm;
  }

  function extractSizeAlgorithm(strategy) {
    const size = strategy.size;
    if (size === undefined) return () => 1;
    return (chunk) => Number(apply(size, undefined, [chunk]));
  }

  /**
   * An underlying source or sink, or a transformer: `callbacks` must be
   * functions if present, `others` are read as they are.
   */
  function convertDictionary(value, what, callbacks, others) {
    if (value === undefined) return {};
    if (!isObject(value)) throw new TypeError(`${what} must be an object`);
    const dict = {};
    for (const name of [...callbacks, ...others].sort()) {
      const member = value[name];
      if (member !== undefined && callbacks.includes(name) && typeof member !== "function") {
        throw new TypeError(`${what}.${name} must be a function`);
      }
      dict[name] = member;
    }
    return dict;
  }

  function pipeOptions(options) {
    const preventAbort = Boolean(options?.preventAbort);
    const preventCancel = Boolean(options?.preventCancel);
    const preventClose = Boolean(options?.preventClose);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("The signal option must be an AbortSignal");
    return { preventAbort, preventCancel, preventClose, signal };
  }

  // ---------------------------------------------------------------------------
  // ReadableStream: internal algorithms

  function newReadableStreamRecord() {
    return {
      kind: "ReadableStream",
      api: undefined,
      state: "readable", // "readable" | "closed" | "errored"
      reader: undefined,
      storedError: undefined,
      disturbed: false,
      controller: undefined,
    };
  }

  function newReadableControllerRecord(stream) {
    return {
      kind: "ReadableStreamDefaultController",
      api: undefined,
      stream,
      queue: new Queue(),
      queueTotalSize: 0,
      started: false,
      closeRequested: false,
      pullAgain: false,
      pulling: false,
      strategyHWM: 1,
      strategySizeAlgorithm: undefined,
      pullAlgorithm: undefined,
      cancelAlgorithm: undefined,
    };
  }

  /** CreateReadableStream */
  function createReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark = 1, sizeAlgorithm = () => 1) {
    const stream = instantiate(ReadableStream, newReadableStreamRecord());
    const controller = instantiate(ReadableStreamDefaultController, newReadableControllerRecord(stream));
    setUpReadableController(stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm);
    return stream;
  }

  function isReadableLocked(stream) {
    return stream.reader !== undefined;
  }

  /** SetUpReadableStreamDefaultController */
  function setUpReadableController(stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm) {
    controller.strategySizeAlgorithm = sizeAlgorithm;
    controller.strategyHWM = highWaterMark;
    controller.pullAlgorithm = pullAlgorithm;
    controller.cancelAlgorithm = cancelAlgorithm;
    stream.controller = controller;
    const startResult = startAlgorithm();
    promiseResolvedWith(startResult).then(
      () => {
        controller.started = true;
        readableControllerCallPullIfNeeded(controller);
      },
      (reason) => readableControllerError(controller, reason),
    );
  }

  /** SetUpReadableStreamDefaultControllerFromUnderlyingSource */
  function setUpReadableControllerFromSource(stream, source, dict, highWaterMark, sizeAlgorithm) {
    const controller = instantiate(ReadableStreamDefaultController, newReadableControllerRecord(stream));
    const { start, pull, cancel } = dict;
    setUpReadableController(
      stream,
      controller,
      () => (start === undefined ? undefined : apply(start, source, [controller.api])),
      () => (pull === undefined ? Promise.resolve() : promiseCall(pull, source, [controller.api])),
      (reason) => (cancel === undefined ? Promise.resolve() : promiseCall(cancel, source, [reason])),
      highWaterMark,
      sizeAlgorithm,
    );
  }

  function readableControllerCallPullIfNeeded(controller) {
    if (!readableControllerShouldCallPull(controller)) return;
    if (controller.pulling) {
      controller.pullAgain = true;
      return;
    }
    controller.pulling = true;
    controller.pullAlgorithm().then(
      () => {
        controller.pulling = false;
        if (controller.pullAgain) {
          controller.pullAgain = false;
          readableControllerCallPullIfNeeded(controller);
        }
      },
      (reason) => readableControllerError(controller, reason),
    );
  }

  function readableControllerShouldCallPull(controller) {
    const stream = controller.stream;
    if (!readableControllerCanCloseOrEnqueue(controller) || !controller.started) return false;
    if (isReadableLocked(stream) && stream.reader.readRequests.length > 0) return true;
    return readableControllerGetDesiredSize(controller) > 0;
  }

  function readableControllerClearAlgorithms(controller) {
    controller.pullAlgorithm = undefined;
    controller.cancelAlgorithm = undefined;
    controller.strategySizeAlgorithm = undefined;
  }

  function readableControllerClose(controller) {
    if (!readableControllerCanCloseOrEnqueue(controller)) return;
    controller.closeRequested = true;
    if (controller.queue.length === 0) {
      readableControllerClearAlgorithms(controller);
      readableStreamClose(controller.stream);
    }
  }

  function readableControllerEnqueue(controller, chunk) {
    if (!readableControllerCanCloseOrEnqueue(controller)) return;
    const stream = controller.stream;
    if (isReadableLocked(stream) && stream.reader.readRequests.length > 0) {
      // A reader is waiting: the chunk goes to it directly, never queued.
      readableStreamFulfillReadRequest(stream, chunk, false);
    } else {
      try {
        enqueueValueWithSize(controller, chunk, controller.strategySizeAlgorithm(chunk));
      } catch (err) {
        readableControllerError(controller, err);
        throw err;
      }
    }
    readableControllerCallPullIfNeeded(controller);
  }

  function readableControllerError(controller, error) {
    const stream = controller.stream;
    if (stream.state !== "readable") return;
    resetQueue(controller);
    readableControllerClearAlgorithms(controller);
    readableStreamError(stream, error);
  }

  function readableControllerGetDesiredSize(controller) {
    const state = controller.stream.state;
    if (state === "errored") return null;
    if (state === "closed") return 0;
    return controller.strategyHWM - controller.queueTotalSize;
  }

  function readableControllerHasBackpressure(controller) {
    return !readableControllerShouldCallPull(controller);
  }

  function readableControllerCanCloseOrEnqueue(controller) {
    return !controller.closeRequested && controller.stream.state === "readable";
  }

  /** [[CancelSteps]] */
  function readableControllerCancelSteps(controller, reason) {
    resetQueue(controller);
    const result = controller.cancelAlgorithm(reason);
    readableControllerClearAlgorithms(controller);
    return result;
  }

  /** [[PullSteps]] */
  function readableControllerPullSteps(controller, readRequest) {
    const stream = controller.stream;
    if (controller.queue.length > 0) {
      const chunk = dequeueValue(controller);
      if (controller.closeRequested && controller.queue.length === 0) {
        readableControllerClearAlgorithms(controller);
        readableStreamClose(stream);
      } else {
        readableControllerCallPullIfNeeded(controller);
      }
      readRequest.chunk(chunk);
    } else {
      stream.reader.readRequests.push(readRequest);
      readableControllerCallPullIfNeeded(controller);
    }
  }

  function readableStreamCancel(stream, reason) {
    stream.disturbed = true;
    if (stream.state === "closed") return Promise.resolve();
    if (stream.state === "errored") return Promise.reject(stream.storedError);
    readableStreamClose(stream);
    const reader = stream.reader;
    if (reader !== undefined && reader.kind === "ReadableStreamBYOBReader") {
      const requests = reader.readIntoRequests;
      reader.readIntoRequests = [];
      for (const request of requests) request.close(undefined);
    }
    const controller = stream.controller;
    const result =
      controller.kind === "ReadableByteStreamController"
        ? byteControllerCancelSteps(controller, reason)
        : readableControllerCancelSteps(controller, reason);
    return promiseResolvedWith(result).then(noop);
  }

  function readableStreamClose(stream) {
    stream.state = "closed";
    const reader = stream.reader;
    if (reader === undefined) return;
    reader.closed.resolve(undefined);
    if (reader.kind !== "ReadableStreamDefaultReader") return;
    const requests = reader.readRequests;
    reader.readRequests = [];
    for (const request of requests) request.close();
  }

  function readableStreamError(stream, error) {
    stream.state = "errored";
    stream.storedError = error;
    const reader = stream.reader;
    if (reader === undefined) return;
    reader.closed.reject(error);
    markHandled(reader.closed.promise);
    readerErrorReadRequests(reader, error);
  }

  function readableStreamFulfillReadRequest(stream, chunk, done) {
    const request = stream.reader.readRequests.shift();
    if (done) request.close();
    else request.chunk(chunk);
  }

  // Readers. A read request is {chunk(value), close(), error(reason)}.

  /** AcquireReadableStreamDefaultReader */
  function acquireReader(stream) {
    const reader = instantiate(ReadableStreamDefaultReader, newReaderRecord());
    setUpReader(reader, stream);
    return reader;
  }

  function newReaderRecord() {
    return { kind: "ReadableStreamDefaultReader", api: undefined, stream: undefined, closed: undefined, readRequests: [] };
  }

  /** SetUpReadableStreamDefaultReader (with ReadableStreamReaderGenericInitialize) */
  function setUpReader(reader, stream) {
    if (isReadableLocked(stream)) throw new TypeError("This stream is already locked to a reader");
    reader.stream = stream;
    stream.reader = reader;
    if (stream.state === "readable") reader.closed = deferred();
    else if (stream.state === "closed") reader.closed = resolvedDeferred(undefined);
    else reader.closed = rejectedDeferred(stream.storedError);
  }

  /** ReadableStreamDefaultReaderRead */
  function readerRead(reader, readRequest) {
    const stream = reader.stream;
    stream.disturbed = true;
    if (stream.state === "closed") readRequest.close();
    else if (stream.state === "errored") readRequest.error(stream.storedError);
    else if (stream.controller.kind === "ReadableByteStreamController") byteControllerPullSteps(stream.controller, readRequest);
    else readableControllerPullSteps(stream.controller, readRequest);
  }

  /** ReadableStreamDefaultReaderRelease (with ReadableStreamReaderGenericRelease) */
  function readerRelease(reader) {
    const stream = reader.stream;
    const released = () => new TypeError("The reader was released from its stream");
    if (stream.state === "readable") reader.closed.reject(released());
    else reader.closed = rejectedDeferred(released());
    markHandled(reader.closed.promise);
    if (stream.controller.kind === "ReadableByteStreamController") byteControllerReleaseSteps(stream.controller);
    stream.reader = undefined;
    reader.stream = undefined;
    readerErrorReadRequests(reader, released());
  }

  /** Errors a default reader's read requests or a BYOB reader's read-into requests. */
  function readerErrorReadRequests(reader, error) {
    const key = reader.kind === "ReadableStreamBYOBReader" ? "readIntoRequests" : "readRequests";
    const requests = reader[key];
    reader[key] = [];
    for (const request of requests) request.error(error);
  }

  function releasedReaderError() {
    return new TypeError("The reader has been released from its stream");
  }

  // ---------------------------------------------------------------------------
  // ReadableStream: public classes

  class ReadableStream {
    constructor(underlyingSource = undefined, strategy = undefined) {
      const strategyDict = convertStrategy(strategy);
      const dict = convertDictionary(underlyingSource, "underlyingSource", ["cancel", "pull", "start"], ["type", "autoAllocateChunkSize"]);
      const type = dict.type === undefined ? undefined : String(dict.type);
      if (type !== undefined && type !== "bytes") throw new TypeError(`"${type}" is not a valid ReadableStream type`);
      const stream = bind(this, newReadableStreamRecord());
      if (type === "bytes") {
        if (strategyDict.size !== undefined) throw new RangeError("A byte stream cannot have a size function");
        const hwm = extractHighWaterMark(strategyDict, 0);
        setUpByteControllerFromSource(stream, underlyingSource, dict, hwm);
      } else {
        const size = extractSizeAlgorithm(strategyDict);
        const hwm = extractHighWaterMark(strategyDict, 1);
        setUpReadableControllerFromSource(stream, underlyingSource, dict, hwm, size);
      }
    }

    get locked() {
      return isReadableLocked(own(this, "ReadableStream"));
    }

    cancel(reason = undefined) {
      const stream = own(this, "ReadableStream");
      if (isReadableLocked(stream)) return Promise.reject(new TypeError("Cannot cancel a stream that is locked to a reader"));
      return readableStreamCancel(stream, reason);
    }

    getReader(options = undefined) {
      const stream = own(this, "ReadableStream");
      const mode = options?.mode;
      if (mode === undefined) return acquireReader(stream).api;
      if (String(mode) === "byob") return acquireBYOBReader(stream).api;
      throw new TypeError(`"${mode}" is not a valid reader mode`);
    }

    pipeThrough(transform, options = undefined) {
      const stream = own(this, "ReadableStream");
      const readable = transform?.readable;
      const writable = transform?.writable;
      own(readable, "ReadableStream"); // a brand check only: `readable` is returned as it is
      const dest = own(writable, "WritableStream");
      const { preventAbort, preventCancel, preventClose, signal } = pipeOptions(options);
      if (isReadableLocked(stream)) throw new TypeError("Cannot pipe a stream that is locked to a reader");
      if (isWritableLocked(dest)) throw new TypeError("Cannot pipe into a stream that is locked to a writer");
      markHandled(readableStreamPipeTo(stream, dest, preventClose, preventAbort, preventCancel, signal));
      return readable;
    }

    pipeTo(destination, options = undefined) {
      const stream = own(this, "ReadableStream");
      const dest = own(destination, "WritableStream");
      const { preventAbort, preventCancel, preventClose, signal } = pipeOptions(options);
      if (isReadableLocked(stream)) throw new TypeError("Cannot pipe a stream that is locked to a reader");
      if (isWritableLocked(dest)) throw new TypeError("Cannot pipe into a stream that is locked to a writer");
      return readableStreamPipeTo(stream, dest, preventClose, preventAbort, preventCancel, signal);
    }

    tee() {
      return readableStreamTee(own(this, "ReadableStream")).map((branch) => branch.api);
    }

    values(options = undefined) {
      const reader = acquireReader(own(this, "ReadableStream"));
      return new ReadableStreamAsyncIterator(reader, Boolean(options?.preventCancel));
    }

    static from(asyncIterable) {
      return readableStreamFromIterable(asyncIterable).api;
    }
  }
  Object.defineProperty(ReadableStream.prototype, Symbol.asyncIterator, {
    value: ReadableStream.prototype.values,
    writable: true,
    configurable: true,
  });
  rejectInsteadOfThrowing(ReadableStream.prototype, ["cancel", "pipeTo"]);
  exposeClass(ReadableStream);

  class ReadableStreamDefaultReader {
    constructor(stream) {
      setUpReader(bind(this, newReaderRecord()), own(stream, "ReadableStream"));
    }

    get closed() {
      return own(this, "ReadableStreamDefaultReader").closed.promise;
    }

    cancel(reason = undefined) {
      const reader = own(this, "ReadableStreamDefaultReader");
      if (reader.stream === undefined) return Promise.reject(releasedReaderError());
      return readableStreamCancel(reader.stream, reason);
    }

    read() {
      const reader = own(this, "ReadableStreamDefaultReader");
      if (reader.stream === undefined) return Promise.reject(releasedReaderError());
      const result = deferred();
      readerRead(reader, {
        chunk: (value) => result.resolve({ value, done: false }),
        close: () => result.resolve({ value: undefined, done: true }),
        error: (reason) => result.reject(reason),
      });
      return result.promise;
    }

    releaseLock() {
      const reader = own(this, "ReadableStreamDefaultReader");
      if (reader.stream !== undefined) readerRelease(reader);
    }
  }
  rejectInsteadOfThrowing(ReadableStreamDefaultReader.prototype, ["closed", "cancel", "read"]);
  exposeClass(ReadableStreamDefaultReader);

  class ReadableStreamDefaultController {
    constructor() {
      throw new TypeError("Illegal constructor");
    }

    get desiredSize() {
      return readableControllerGetDesiredSize(own(this, "ReadableStreamDefaultController"));
    }

    close() {
      const controller = own(this, "ReadableStreamDefaultController");
      if (!readableControllerCanCloseOrEnqueue(controller)) throw new TypeError("The stream is already closed or closing");
      readableControllerClose(controller);
    }

    enqueue(chunk = undefined) {
      const controller = own(this, "ReadableStreamDefaultController");
      if (!readableControllerCanCloseOrEnqueue(controller)) {
        throw new TypeError("Cannot enqueue a chunk into a stream that is closed or closing");
      }
      readableControllerEnqueue(controller, chunk);
    }

    error(reason = undefined) {
      readableControllerError(own(this, "ReadableStreamDefaultController"), reason);
    }
  }
  exposeClass(ReadableStreamDefaultController);

  // ---------------------------------------------------------------------------
  // Byte streams: ReadableByteStreamController, ReadableStreamBYOBReader and
  // ReadableStreamBYOBRequest (Streams §4.7–4.10). Buffers handed over are
  // transferred (the original ArrayBuffer is detached), as the spec says.

  /** TransferArrayBuffer */
  function transferBuffer(buffer) {
    if (isDetached(buffer)) throw new TypeError("The ArrayBuffer is detached");
    return typeof buffer.transfer === "function" ? buffer.transfer() : buffer.slice(0);
  }

  function isDetached(buffer) {
    if ("detached" in buffer) return buffer.detached;
    if (buffer.byteLength !== 0) return false;
    try {
      new Uint8Array(buffer);
      return false;
    } catch {
      return true;
    }
  }

  function copyBytes(dest, destOffset, src, srcOffset, n) {
    new Uint8Array(dest, destOffset, n).set(new Uint8Array(src, srcOffset, n));
  }

  function newByteControllerRecord(stream) {
    return {
      kind: "ReadableByteStreamController",
      api: undefined,
      stream,
      queue: [], // {buffer, byteOffset, byteLength}
      queueTotalSize: 0,
      started: false,
      closeRequested: false,
      pullAgain: false,
      pulling: false,
      strategyHWM: 0,
      pullAlgorithm: undefined,
      cancelAlgorithm: undefined,
      autoAllocateChunkSize: undefined,
      pendingPullIntos: [],
      byobRequest: null, // the request record, or null
    };
  }

  /** SetUpReadableByteStreamControllerFromUnderlyingSource */
  function setUpByteControllerFromSource(stream, source, dict, highWaterMark) {
    const controller = instantiate(ReadableByteStreamController, newByteControllerRecord(stream));
    let autoAllocate = dict.autoAllocateChunkSize;
    if (autoAllocate !== undefined) {
      autoAllocate = Number(autoAllocate);
      if (!Number.isFinite(autoAllocate) || autoAllocate < 0 || autoAllocate > Number.MAX_SAFE_INTEGER) {
        throw new TypeError("autoAllocateChunkSize must be a positive integer");
      }
      autoAllocate = Math.trunc(autoAllocate);
      if (autoAllocate === 0) throw new TypeError("autoAllocateChunkSize must not be 0");
    }
    const { start, pull, cancel } = dict;
    controller.strategyHWM = highWaterMark;
    controller.pullAlgorithm = () => (pull === undefined ? Promise.resolve() : promiseCall(pull, source, [controller.api]));
    controller.cancelAlgorithm = (reason) => (cancel === undefined ? Promise.resolve() : promiseCall(cancel, source, [reason]));
    controller.autoAllocateChunkSize = autoAllocate;
    stream.controller = controller;
    const startResult = start === undefined ? undefined : apply(start, source, [controller.api]);
    promiseResolvedWith(startResult).then(
      () => {
        controller.started = true;
        byteControllerCallPullIfNeeded(controller);
      },
      (reason) => byteControllerError(controller, reason),
    );
  }

  function byteControllerCallPullIfNeeded(controller) {
    if (!byteControllerShouldCallPull(controller)) return;
    if (controller.pulling) {
      controller.pullAgain = true;
      return;
    }
    controller.pulling = true;
    controller.pullAlgorithm().then(
      () => {
        controller.pulling = false;
        if (controller.pullAgain) {
          controller.pullAgain = false;
          byteControllerCallPullIfNeeded(controller);
        }
      },
      (reason) => byteControllerError(controller, reason),
    );
  }

  function byteControllerShouldCallPull(controller) {
    const stream = controller.stream;
    if (stream.state !== "readable" || controller.closeRequested || !controller.started) return false;
    const reader = stream.reader;
    if (reader !== undefined && reader.kind === "ReadableStreamDefaultReader" && reader.readRequests.length > 0) return true;
    if (reader !== undefined && reader.kind === "ReadableStreamBYOBReader" && reader.readIntoRequests.length > 0) return true;
    return byteControllerDesiredSize(controller) > 0;
  }

  function byteControllerDesiredSize(controller) {
    const state = controller.stream.state;
    if (state === "errored") return null;
    if (state === "closed") return 0;
    return controller.strategyHWM - controller.queueTotalSize;
  }

  function byteControllerClearAlgorithms(controller) {
    controller.pullAlgorithm = undefined;
    controller.cancelAlgorithm = undefined;
  }

  function byteControllerClearPendingPullIntos(controller) {
    byteControllerInvalidateBYOBRequest(controller);
    controller.pendingPullIntos = [];
  }

  function byteControllerInvalidateBYOBRequest(controller) {
    const request = controller.byobRequest;
    if (request === null) return;
    request.controller = undefined;
    request.view = null;
    controller.byobRequest = null;
  }

  function byteControllerError(controller, error) {
    const stream = controller.stream;
    if (stream.state !== "readable") return;
    byteControllerClearPendingPullIntos(controller);
    controller.queue = [];
    controller.queueTotalSize = 0;
    byteControllerClearAlgorithms(controller);
    readableStreamError(stream, error);
  }

  function byteControllerClose(controller) {
    const stream = controller.stream;
    if (controller.closeRequested || stream.state !== "readable") return;
    if (controller.queueTotalSize > 0) {
      controller.closeRequested = true;
      return;
    }
    const first = controller.pendingPullIntos[0];
    if (first !== undefined && first.bytesFilled % first.elementSize !== 0) {
      const error = new TypeError("Insufficient bytes to fill the elements of the view");
      byteControllerError(controller, error);
      throw error;
    }
    byteControllerClearAlgorithms(controller);
    readableStreamClose(stream);
  }

  function byteControllerEnqueueChunk(controller, buffer, byteOffset, byteLength) {
    controller.queue.push({ buffer, byteOffset, byteLength });
    controller.queueTotalSize += byteLength;
  }

  function byteControllerEnqueueClonedChunk(controller, buffer, byteOffset, byteLength) {
    let clone;
    try {
      clone = buffer.slice(byteOffset, byteOffset + byteLength);
    } catch (err) {
      byteControllerError(controller, err);
      throw err;
    }
    byteControllerEnqueueChunk(controller, clone, 0, byteLength);
  }

  function byteControllerEnqueueDetachedPullInto(controller, descriptor) {
    if (descriptor.bytesFilled > 0) {
      byteControllerEnqueueClonedChunk(controller, descriptor.buffer, descriptor.byteOffset, descriptor.bytesFilled);
    }
    byteControllerShiftPendingPullInto(controller);
  }

  function byteControllerShiftPendingPullInto(controller) {
    return controller.pendingPullIntos.shift();
  }

  /** ReadableByteStreamControllerEnqueue */
  function byteControllerEnqueue(controller, chunk) {
    const stream = controller.stream;
    if (controller.closeRequested || stream.state !== "readable") return;
    const { buffer, byteOffset, byteLength } = chunk;
    if (isDetached(buffer)) throw new TypeError("The chunk's buffer is detached");
    const transferred = transferBuffer(buffer);
    if (controller.pendingPullIntos.length > 0) {
      const first = controller.pendingPullIntos[0];
      if (isDetached(first.buffer)) throw new TypeError("The BYOB request's buffer is detached");
      byteControllerInvalidateBYOBRequest(controller);
      first.buffer = transferBuffer(first.buffer);
      if (first.readerType === "none") byteControllerEnqueueDetachedPullInto(controller, first);
    }
    const reader = stream.reader;
    if (reader !== undefined && reader.kind === "ReadableStreamDefaultReader") {
      byteControllerProcessReadRequests(controller);
      if (reader.readRequests.length === 0) {
        byteControllerEnqueueChunk(controller, transferred, byteOffset, byteLength);
      } else {
        if (controller.pendingPullIntos.length > 0) byteControllerShiftPendingPullInto(controller);
        readableStreamFulfillReadRequest(stream, new Uint8Array(transferred, byteOffset, byteLength), false);
      }
    } else if (reader !== undefined && reader.kind === "ReadableStreamBYOBReader") {
      byteControllerEnqueueChunk(controller, transferred, byteOffset, byteLength);
      for (const descriptor of byteControllerProcessPullIntos(controller)) commitPullInto(stream, descriptor);
    } else {
      byteControllerEnqueueChunk(controller, transferred, byteOffset, byteLength);
    }
    byteControllerCallPullIfNeeded(controller);
  }

  /** ReadableByteStreamControllerFillPullIntoDescriptorFromQueue */
  function byteControllerFillPullInto(controller, descriptor) {
    const maxBytesToCopy = Math.min(controller.queueTotalSize, descriptor.byteLength - descriptor.bytesFilled);
    const maxBytesFilled = descriptor.bytesFilled + maxBytesToCopy;
    let remaining = maxBytesToCopy;
    let ready = false;
    const maxAlignedBytes = maxBytesFilled - (maxBytesFilled % descriptor.elementSize);
    if (maxAlignedBytes >= descriptor.minimumFill) {
      remaining = maxAlignedBytes - descriptor.bytesFilled;
      ready = true;
    }
    const queue = controller.queue;
    while (remaining > 0) {
      const head = queue[0];
      const n = Math.min(remaining, head.byteLength);
      copyBytes(descriptor.buffer, descriptor.byteOffset + descriptor.bytesFilled, head.buffer, head.byteOffset, n);
      if (head.byteLength === n) {
        queue.shift();
      } else {
        head.byteOffset += n;
        head.byteLength -= n;
      }
      controller.queueTotalSize -= n;
      descriptor.bytesFilled += n;
      remaining -= n;
    }
    return ready;
  }

  function byteControllerHandleQueueDrain(controller) {
    if (controller.queueTotalSize === 0 && controller.closeRequested) {
      byteControllerClearAlgorithms(controller);
      readableStreamClose(controller.stream);
    } else {
      byteControllerCallPullIfNeeded(controller);
    }
  }

  function byteControllerFillReadRequest(controller, readRequest) {
    const entry = controller.queue.shift();
    controller.queueTotalSize -= entry.byteLength;
    byteControllerHandleQueueDrain(controller);
    readRequest.chunk(new Uint8Array(entry.buffer, entry.byteOffset, entry.byteLength));
  }

  function byteControllerProcessReadRequests(controller) {
    const reader = controller.stream.reader;
    while (reader.readRequests.length > 0) {
      if (controller.queueTotalSize === 0) return;
      byteControllerFillReadRequest(controller, reader.readRequests.shift());
    }
  }

  /** ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue */
  function byteControllerProcessPullIntos(controller) {
    const filled = [];
    while (controller.pendingPullIntos.length > 0) {
      if (controller.queueTotalSize === 0) break;
      const descriptor = controller.pendingPullIntos[0];
      if (byteControllerFillPullInto(controller, descriptor)) {
        byteControllerShiftPendingPullInto(controller);
        filled.push(descriptor);
      }
    }
    return filled;
  }

  function convertPullInto(descriptor) {
    const buffer = transferBuffer(descriptor.buffer);
    return new descriptor.viewConstructor(buffer, descriptor.byteOffset, descriptor.bytesFilled / descriptor.elementSize);
  }

  /** ReadableByteStreamControllerCommitPullIntoDescriptor */
  function commitPullInto(stream, descriptor) {
    const done = stream.state === "closed";
    const view = convertPullInto(descriptor);
    if (descriptor.readerType === "default") {
      readableStreamFulfillReadRequest(stream, view, done);
    } else {
      const request = stream.reader.readIntoRequests.shift();
      if (done) request.close(view);
      else request.chunk(view);
    }
  }

  /** [[PullSteps]] of a byte controller (a default reader's read). */
  function byteControllerPullSteps(controller, readRequest) {
    const stream = controller.stream;
    if (controller.queueTotalSize > 0) {
      byteControllerFillReadRequest(controller, readRequest);
      return;
    }
    const size = controller.autoAllocateChunkSize;
    if (size !== undefined) {
      let buffer;
      try {
        buffer = new ArrayBuffer(size);
      } catch (err) {
        readRequest.error(err);
        return;
      }
      controller.pendingPullIntos.push({
        buffer,
        bufferByteLength: size,
        byteOffset: 0,
        byteLength: size,
        bytesFilled: 0,
        minimumFill: 1,
        elementSize: 1,
        viewConstructor: Uint8Array,
        readerType: "default",
      });
    }
    stream.reader.readRequests.push(readRequest);
    byteControllerCallPullIfNeeded(controller);
  }

  function byteControllerCancelSteps(controller, reason) {
    byteControllerClearPendingPullIntos(controller);
    controller.queue = [];
    controller.queueTotalSize = 0;
    const result = controller.cancelAlgorithm(reason);
    byteControllerClearAlgorithms(controller);
    return result;
  }

  function byteControllerReleaseSteps(controller) {
    if (controller.pendingPullIntos.length > 0) {
      const first = controller.pendingPullIntos[0];
      first.readerType = "none";
      controller.pendingPullIntos = [first];
    }
  }

  /** ReadableByteStreamControllerPullInto (a BYOB reader's read). */
  function byteControllerPullInto(controller, view, min, readIntoRequest) {
    const stream = controller.stream;
    let elementSize = 1;
    let viewConstructor = DataView;
    if (!(view instanceof DataView)) {
      elementSize = view.BYTES_PER_ELEMENT;
      viewConstructor = view.constructor;
    }
    const { byteOffset, byteLength } = view;
    let buffer;
    try {
      buffer = transferBuffer(view.buffer);
    } catch (err) {
      readIntoRequest.error(err);
      return;
    }
    const descriptor = {
      buffer,
      bufferByteLength: buffer.byteLength,
      byteOffset,
      byteLength,
      bytesFilled: 0,
      minimumFill: min * elementSize,
      elementSize,
      viewConstructor,
      readerType: "byob",
    };
    if (controller.pendingPullIntos.length > 0) {
      controller.pendingPullIntos.push(descriptor);
      stream.reader.readIntoRequests.push(readIntoRequest);
      return;
    }
    if (stream.state === "closed") {
      readIntoRequest.close(new viewConstructor(descriptor.buffer, descriptor.byteOffset, 0));
      return;
    }
    if (controller.queueTotalSize > 0) {
      if (byteControllerFillPullInto(controller, descriptor)) {
        const filled = convertPullInto(descriptor);
        byteControllerHandleQueueDrain(controller);
        readIntoRequest.chunk(filled);
        return;
      }
      if (controller.closeRequested) {
        const error = new TypeError("Insufficient bytes to fill the elements of the view");
        byteControllerError(controller, error);
        readIntoRequest.error(error);
        return;
      }
    }
    controller.pendingPullIntos.push(descriptor);
    stream.reader.readIntoRequests.push(readIntoRequest);
    byteControllerCallPullIfNeeded(controller);
  }

  function byteControllerRespondInClosedState(controller, first) {
    if (first.readerType === "none") byteControllerShiftPendingPullInto(controller);
    const stream = controller.stream;
    const reader = stream.reader;
    if (reader !== undefined && reader.kind === "ReadableStreamBYOBReader") {
      while (reader.readIntoRequests.length > 0) commitPullInto(stream, byteControllerShiftPendingPullInto(controller));
    }
  }

  function byteControllerRespondInReadableState(controller, bytesWritten, descriptor) {
    descriptor.bytesFilled += bytesWritten;
    const stream = controller.stream;
    if (descriptor.readerType === "none") {
      byteControllerEnqueueDetachedPullInto(controller, descriptor);
      for (const filled of byteControllerProcessPullIntos(controller)) commitPullInto(stream, filled);
      return;
    }
    if (descriptor.bytesFilled < descriptor.minimumFill) return;
    byteControllerShiftPendingPullInto(controller);
    const remainder = descriptor.bytesFilled % descriptor.elementSize;
    if (remainder > 0) {
      const end = descriptor.byteOffset + descriptor.bytesFilled;
      byteControllerEnqueueClonedChunk(controller, descriptor.buffer, end - remainder, remainder);
    }
    descriptor.bytesFilled -= remainder;
    const filled = byteControllerProcessPullIntos(controller);
    commitPullInto(stream, descriptor);
    for (const other of filled) commitPullInto(stream, other);
  }

  function byteControllerRespondInternal(controller, bytesWritten) {
    const first = controller.pendingPullIntos[0];
    byteControllerInvalidateBYOBRequest(controller);
    if (controller.stream.state === "closed") byteControllerRespondInClosedState(controller, first);
    else byteControllerRespondInReadableState(controller, bytesWritten, first);
    byteControllerCallPullIfNeeded(controller);
  }

  function byteControllerRespond(controller, bytesWritten) {
    const first = controller.pendingPullIntos[0];
    if (controller.stream.state === "closed") {
      if (bytesWritten !== 0) throw new TypeError("bytesWritten must be 0 once the stream is closed");
    } else {
      if (bytesWritten === 0) throw new TypeError("bytesWritten must be more than 0 while the stream is readable");
      if (first.bytesFilled + bytesWritten > first.byteLength) throw new RangeError("bytesWritten is out of range");
    }
    first.buffer = transferBuffer(first.buffer);
    byteControllerRespondInternal(controller, bytesWritten);
  }

  function byteControllerRespondWithNewView(controller, view) {
    const first = controller.pendingPullIntos[0];
    if (controller.stream.state === "closed") {
      if (view.byteLength !== 0) throw new TypeError("The view must be empty once the stream is closed");
    } else if (view.byteLength === 0) {
      throw new TypeError("The view must not be empty while the stream is readable");
    }
    if (first.byteOffset + first.bytesFilled !== view.byteOffset) throw new RangeError("The view's offset does not match the request");
    if (first.bufferByteLength !== view.buffer.byteLength) throw new RangeError("The view's buffer does not match the request");
    if (first.bytesFilled + view.byteLength > first.byteLength) throw new RangeError("The view is longer than the request");
    const length = view.byteLength;
    first.buffer = transferBuffer(view.buffer);
    byteControllerRespondInternal(controller, length);
  }

  function byteControllerGetBYOBRequest(controller) {
    if (controller.byobRequest === null && controller.pendingPullIntos.length > 0) {
      const first = controller.pendingPullIntos[0];
      const view = new Uint8Array(first.buffer, first.byteOffset + first.bytesFilled, first.byteLength - first.bytesFilled);
      controller.byobRequest = instantiate(ReadableStreamBYOBRequest, { kind: "ReadableStreamBYOBRequest", api: undefined, controller, view });
    }
    return controller.byobRequest === null ? null : controller.byobRequest.api;
  }

  function isArrayBufferView(value) {
    return ArrayBuffer.isView(value);
  }

  class ReadableByteStreamController {
    constructor() {
      throw new TypeError("Illegal constructor");
    }

    get byobRequest() {
      return byteControllerGetBYOBRequest(own(this, "ReadableByteStreamController"));
    }

    get desiredSize() {
      return byteControllerDesiredSize(own(this, "ReadableByteStreamController"));
    }

    close() {
      const controller = own(this, "ReadableByteStreamController");
      if (controller.closeRequested) throw new TypeError("The stream is already closing");
      if (controller.stream.state !== "readable") throw new TypeError("The stream is not readable");
      byteControllerClose(controller);
    }

    enqueue(chunk) {
      const controller = own(this, "ReadableByteStreamController");
      if (!isArrayBufferView(chunk)) throw new TypeError("A byte stream's chunk must be an ArrayBufferView");
      if (chunk.byteLength === 0) throw new TypeError("A byte stream's chunk must not be empty");
      if (chunk.buffer.byteLength === 0) throw new TypeError("The chunk's buffer is empty or detached");
      if (controller.closeRequested) throw new TypeError("The stream is closing");
      if (controller.stream.state !== "readable") throw new TypeError("The stream is not readable");
      byteControllerEnqueue(controller, chunk);
    }

    error(reason = undefined) {
      byteControllerError(own(this, "ReadableByteStreamController"), reason);
    }
  }
  exposeClass(ReadableByteStreamController);

  class ReadableStreamBYOBRequest {
    constructor() {
      throw new TypeError("Illegal constructor");
    }

    get view() {
      return own(this, "ReadableStreamBYOBRequest").view;
    }

    respond(bytesWritten) {
      const request = own(this, "ReadableStreamBYOBRequest");
      const n = Number(bytesWritten);
      if (!Number.isFinite(n) || n < 0) throw new TypeError("bytesWritten must be a non-negative integer");
      if (request.controller === undefined) throw new TypeError("This BYOB request is no longer valid");
      if (isDetached(request.view.buffer)) throw new TypeError("The view's buffer is detached");
      byteControllerRespond(request.controller, Math.trunc(n));
    }

    respondWithNewView(view) {
      const request = own(this, "ReadableStreamBYOBRequest");
      if (!isArrayBufferView(view)) throw new TypeError("The view must be an ArrayBufferView");
      if (request.controller === undefined) throw new TypeError("This BYOB request is no longer valid");
      if (isDetached(view.buffer)) throw new TypeError("The view's buffer is detached");
      byteControllerRespondWithNewView(request.controller, view);
    }
  }
  exposeClass(ReadableStreamBYOBRequest);

  function newBYOBReaderRecord() {
    return { kind: "ReadableStreamBYOBReader", api: undefined, stream: undefined, closed: undefined, readIntoRequests: [] };
  }

  /** SetUpReadableStreamBYOBReader */
  function setUpBYOBReader(reader, stream) {
    if (isReadableLocked(stream)) throw new TypeError("This stream is already locked to a reader");
    if (stream.controller.kind !== "ReadableByteStreamController") {
      throw new TypeError("A BYOB reader needs a byte stream (type: \"bytes\")");
    }
    setUpReader(reader, stream);
  }

  function acquireBYOBReader(stream) {
    const reader = instantiate(ReadableStreamBYOBReader, newBYOBReaderRecord());
    setUpBYOBReader(reader, stream);
    return reader;
  }

  class ReadableStreamBYOBReader {
    constructor(stream) {
      setUpBYOBReader(bind(this, newBYOBReaderRecord()), own(stream, "ReadableStream"));
    }

    get closed() {
      return own(this, "ReadableStreamBYOBReader").closed.promise;
    }

    cancel(reason = undefined) {
      const reader = own(this, "ReadableStreamBYOBReader");
      if (reader.stream === undefined) return Promise.reject(releasedReaderError());
      return readableStreamCancel(reader.stream, reason);
    }

    read(view, options = undefined) {
      const reader = own(this, "ReadableStreamBYOBReader");
      if (!isArrayBufferView(view)) return Promise.reject(new TypeError("read() needs an ArrayBufferView"));
      if (view.byteLength === 0) return Promise.reject(new TypeError("The view must not be empty"));
      if (view.buffer.byteLength === 0) return Promise.reject(new TypeError("The view's buffer is empty or detached"));
      if (isDetached(view.buffer)) return Promise.reject(new TypeError("The view's buffer is detached"));
      let min = 1;
      if (options !== undefined && options !== null && options.min !== undefined) {
        min = Number(options.min);
        if (!Number.isFinite(min) || min < 0 || min > Number.MAX_SAFE_INTEGER) return Promise.reject(new TypeError("min is out of range"));
        min = Math.trunc(min);
      }
      if (min === 0) return Promise.reject(new TypeError("min must be more than 0"));
      const length = view instanceof DataView ? view.byteLength : view.length;
      if (min > length) return Promise.reject(new RangeError("min is larger than the view"));
      if (reader.stream === undefined) return Promise.reject(releasedReaderError());
      const result = deferred();
      const stream = reader.stream;
      stream.disturbed = true;
      const request = {
        chunk: (value) => result.resolve({ value, done: false }),
        close: (value) => result.resolve({ value, done: true }),
        error: (reason) => result.reject(reason),
      };
      if (stream.state === "errored") request.error(stream.storedError);
      else byteControllerPullInto(stream.controller, view, min, request);
      return result.promise;
    }

    releaseLock() {
      const reader = own(this, "ReadableStreamBYOBReader");
      if (reader.stream !== undefined) readerRelease(reader);
    }
  }
  rejectInsteadOfThrowing(ReadableStreamBYOBReader.prototype, ["closed", "cancel", "read"]);
  exposeClass(ReadableStreamBYOBReader);

  // ---------------------------------------------------------------------------
  // Async iteration (WebIDL async iterator of ReadableStream). Calls of next()
  // and return() are chained, so they settle in the order they were made.

  const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

  class ReadableStreamAsyncIterator {
    #reader;
    #preventCancel;
    #ongoing = undefined;
    #finished = false;

    constructor(reader, preventCancel) {
      this.#reader = reader;
      this.#preventCancel = preventCancel;
    }

    next() {
      const step = () => this.#nextStep();
      this.#ongoing = this.#ongoing === undefined ? step() : this.#ongoing.then(step, step);
      return this.#ongoing;
    }

    return(value) {
      const step = () => this.#returnStep(value);
      this.#ongoing = this.#ongoing === undefined ? step() : this.#ongoing.then(step, step);
      return this.#ongoing.then(() => ({ value, done: true }));
    }

    #nextStep() {
      if (this.#finished) return Promise.resolve({ value: undefined, done: true });
      const reader = this.#reader;
      const result = deferred();
      readerRead(reader, {
        chunk: (value) => result.resolve({ value, done: false }),
        close: () => {
          readerRelease(reader);
          result.resolve({ value: undefined, done: true });
        },
        error: (reason) => {
          readerRelease(reader);
          result.reject(reason);
        },
      });
      return result.promise.then(
        (iterResult) => {
          this.#ongoing = undefined;
          if (iterResult.done) this.#finished = true;
          return iterResult;
        },
        (reason) => {
          this.#ongoing = undefined;
          this.#finished = true;
          throw reason;
        },
      );
    }

    #returnStep(value) {
      if (this.#finished) return Promise.resolve();
      this.#finished = true;
      const reader = this.#reader;
      if (this.#preventCancel) {
        readerRelease(reader);
        return Promise.resolve();
      }
      const result = readableStreamCancel(reader.stream, value);
      readerRelease(reader);
      return result;
    }
  }
  rejectInsteadOfThrowing(ReadableStreamAsyncIterator.prototype, ["next", "return"]);
  Object.setPrototypeOf(ReadableStreamAsyncIterator.prototype, AsyncIteratorPrototype);
  Object.defineProperty(ReadableStreamAsyncIterator.prototype, Symbol.toStringTag, {
    value: "ReadableStream AsyncIterator",
    configurable: true,
  });

  // ---------------------------------------------------------------------------
  // ReadableStream.from

  /** GetIterator(value, async): an async iterator, or a sync one whose values are awaited. */
  function getAsyncIterator(value) {
    const method = value?.[Symbol.asyncIterator];
    if (method !== undefined && method !== null) return checkedIterator(apply(method, value, []));
    const syncMethod = value?.[Symbol.iterator];
    if (syncMethod === undefined || syncMethod === null) throw new TypeError("ReadableStream.from: the argument is not iterable");
    return asyncFromSyncIterator(checkedIterator(apply(syncMethod, value, [])));
  }

  function checkedIterator(iterator) {
    if (!isObject(iterator)) throw new TypeError("The iterator method must return an object");
    return { iterator, next: iterator.next };
  }

  /** CreateAsyncFromSyncIterator */
  function asyncFromSyncIterator({ iterator: syncIterator, next: syncNext }) {
    const settle = (result) => {
      if (!isObject(result)) throw new TypeError("The iterator result must be an object");
      const done = Boolean(result.done);
      return Promise.resolve(result.value).then((value) => ({ value, done }));
    };
    const iterator = {
      next: () => settle(apply(syncNext, syncIterator, [])),
      return(value) {
        const method = syncIterator.return;
        if (method === undefined || method === null) return Promise.resolve({ value, done: true });
        return settle(apply(method, syncIterator, [value]));
      },
    };
    return { iterator, next: iterator.next };
  }

  function readableStreamFromIterable(asyncIterable) {
    const { iterator, next } = getAsyncIterator(asyncIterable);
    let stream;
    const pullAlgorithm = () =>
      promiseCall(next, iterator, []).then((result) => {
        if (!isObject(result)) throw new TypeError("The iterator's next() must return an object");
        if (result.done) readableControllerClose(stream.controller);
        else readableControllerEnqueue(stream.controller, result.value);
      });
    const cancelAlgorithm = (reason) => {
      let method;
      try {
        method = iterator.return;
      } catch (err) {
        return Promise.reject(err);
      }
      if (method === undefined || method === null) return Promise.resolve();
      return promiseCall(method, iterator, [reason]).then((result) => {
        if (!isObject(result)) throw new TypeError("The iterator's return() must return an object");
      });
    };
    stream = createReadableStream(noop, pullAlgorithm, cancelAlgorithm, 0);
    return stream;
  }

  // ---------------------------------------------------------------------------
  // tee (ReadableStreamDefaultTee; chunks are shared by both branches, not cloned)

  function readableStreamTee(stream) {
    const reader = acquireReader(stream);
    let reading = false;
    let readAgain = false;
    let canceled1 = false;
    let canceled2 = false;
    let reason1;
    let reason2;
    const cancelPromise = deferred();

    const readRequest = {
      // In a microtask: the chunk steps may run inside enqueue(), and the
      // branches' enqueues must not run reentrantly.
      chunk: (chunk) =>
        queueMicrotask(() => {
          readAgain = false;
          if (!canceled1) readableControllerEnqueue(branch1.controller, chunk);
          if (!canceled2) readableControllerEnqueue(branch2.controller, chunk);
          reading = false;
          if (readAgain) pullAlgorithm();
        }),
      close: () => {
        reading = false;
        if (!canceled1) readableControllerClose(branch1.controller);
        if (!canceled2) readableControllerClose(branch2.controller);
        if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
      },
      error: () => {
        reading = false;
      },
    };

    function pullAlgorithm() {
      if (reading) {
        readAgain = true;
        return Promise.resolve();
      }
      reading = true;
      readerRead(reader, readRequest);
      return Promise.resolve();
    }

    // The source is canceled once both branches are, with both reasons.
    function cancelBoth() {
      cancelPromise.resolve(readableStreamCancel(stream, [reason1, reason2]));
    }

    const branch1 = createReadableStream(noop, pullAlgorithm, (reason) => {
      canceled1 = true;
      reason1 = reason;
      if (canceled2) cancelBoth();
      return cancelPromise.promise;
    });
    const branch2 = createReadableStream(noop, pullAlgorithm, (reason) => {
      canceled2 = true;
      reason2 = reason;
      if (canceled1) cancelBoth();
      return cancelPromise.promise;
    });

    reader.closed.promise.then(undefined, (reason) => {
      readableControllerError(branch1.controller, reason);
      readableControllerError(branch2.controller, reason);
      if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
    });
    return [branch1, branch2];
  }

  // ---------------------------------------------------------------------------
  // WritableStream: internal algorithms

  const CLOSE_SENTINEL = Symbol("close sentinel");

  function newWritableStreamRecord() {
    return {
      kind: "WritableStream",
      api: undefined,
      state: "writable", // "writable" | "closed" | "erroring" | "errored"
      storedError: undefined,
      writer: undefined,
      controller: undefined,
      inFlightWriteRequest: undefined,
      closeRequest: undefined,
      inFlightCloseRequest: undefined,
      pendingAbortRequest: undefined, // {promise: deferred, reason, wasAlreadyErroring}
      writeRequests: [],
      backpressure: false,
    };
  }

  function newWritableControllerRecord(stream) {
    return {
      kind: "WritableStreamDefaultController",
      api: undefined,
      stream,
      queue: new Queue(),
      queueTotalSize: 0,
      abortController: new AbortController(),
      started: false,
      strategyHWM: 1,
      strategySizeAlgorithm: undefined,
      writeAlgorithm: undefined,
      closeAlgorithm: undefined,
      abortAlgorithm: undefined,
    };
  }

  /** CreateWritableStream */
  function createWritableStream(startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm) {
    const stream = instantiate(WritableStream, newWritableStreamRecord());
    const controller = instantiate(WritableStreamDefaultController, newWritableControllerRecord(stream));
    setUpWritableController(stream, controller, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm);
    return stream;
  }

  function isWritableLocked(stream) {
    return stream.writer !== undefined;
  }

  function writableStreamAbort(stream, reason) {
    if (stream.state === "closed" || stream.state === "errored") return Promise.resolve();
    stream.controller.abortController.abort(reason);
    // The abort listeners may have changed the state.
    const state = stream.state;
    if (state === "closed" || state === "errored") return Promise.resolve();
    if (stream.pendingAbortRequest !== undefined) return stream.pendingAbortRequest.promise.promise;
    const wasAlreadyErroring = state === "erroring";
    const promise = deferred();
    stream.pendingAbortRequest = { promise, reason: wasAlreadyErroring ? undefined : reason, wasAlreadyErroring };
    if (!wasAlreadyErroring) writableStreamStartErroring(stream, reason);
    return promise.promise;
  }

  function writableStreamClose(stream) {
    const state = stream.state;
    if (state === "closed" || state === "errored") {
      return Promise.reject(new TypeError("The stream is closed or errored and cannot be closed"));
    }
    const promise = deferred();
    stream.closeRequest = promise;
    const writer = stream.writer;
    if (writer !== undefined && stream.backpressure && state === "writable") writer.ready.resolve(undefined);
    writableControllerClose(stream.controller);
    return promise.promise;
  }

  function writableStreamAddWriteRequest(stream) {
    const promise = deferred();
    stream.writeRequests.push(promise);
    return promise.promise;
  }

  function writableStreamDealWithRejection(stream, error) {
    if (stream.state === "writable") {
      writableStreamStartErroring(stream, error);
      return;
    }
    writableStreamFinishErroring(stream);
  }

  function writableStreamStartErroring(stream, reason) {
    const controller = stream.controller;
    stream.state = "erroring";
    stream.storedError = reason;
    const writer = stream.writer;
    if (writer !== undefined) writerEnsureReadyPromiseRejected(writer, reason);
    if (!writableStreamHasOperationMarkedInFlight(stream) && controller.started) writableStreamFinishErroring(stream);
  }

  function writableStreamFinishErroring(stream) {
    stream.state = "errored";
    resetQueue(stream.controller); // the controller's [[ErrorSteps]]
    const storedError = stream.storedError;
    for (const request of stream.writeRequests) request.reject(storedError);
    stream.writeRequests = [];
    const abortRequest = stream.pendingAbortRequest;
    if (abortRequest === undefined) {
      writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      return;
    }
    stream.pendingAbortRequest = undefined;
    if (abortRequest.wasAlreadyErroring) {
      abortRequest.promise.reject(storedError);
      writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      return;
    }
    writableControllerAbortSteps(stream.controller, abortRequest.reason).then(
      () => {
        abortRequest.promise.resolve(undefined);
        writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      },
      (reason) => {
        abortRequest.promise.reject(reason);
        writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
      },
    );
  }

  function writableStreamFinishInFlightWrite(stream) {
    stream.inFlightWriteRequest.resolve(undefined);
    stream.inFlightWriteRequest = undefined;
  }

  function writableStreamFinishInFlightWriteWithError(stream, error) {
    stream.inFlightWriteRequest.reject(error);
    stream.inFlightWriteRequest = undefined;
    writableStreamDealWithRejection(stream, error);
  }

  function writableStreamFinishInFlightClose(stream) {
    stream.inFlightCloseRequest.resolve(undefined);
    stream.inFlightCloseRequest = undefined;
    if (stream.state === "erroring") {
      // The close won the race against an abort: the abort succeeds, the stream is closed.
      stream.storedError = undefined;
      if (stream.pendingAbortRequest !== undefined) {
        stream.pendingAbortRequest.promise.resolve(undefined);
        stream.pendingAbortRequest = undefined;
      }
    }
    stream.state = "closed";
    if (stream.writer !== undefined) stream.writer.closed.resolve(undefined);
  }

  function writableStreamFinishInFlightCloseWithError(stream, error) {
    stream.inFlightCloseRequest.reject(error);
    stream.inFlightCloseRequest = undefined;
    if (stream.pendingAbortRequest !== undefined) {
      stream.pendingAbortRequest.promise.reject(error);
      stream.pendingAbortRequest = undefined;
    }
    writableStreamDealWithRejection(stream, error);
  }

  function writableStreamCloseQueuedOrInFlight(stream) {
    return stream.closeRequest !== undefined || stream.inFlightCloseRequest !== undefined;
  }

  function writableStreamHasOperationMarkedInFlight(stream) {
    return stream.inFlightWriteRequest !== undefined || stream.inFlightCloseRequest !== undefined;
  }

  function writableStreamRejectCloseAndClosedPromiseIfNeeded(stream) {
    if (stream.closeRequest !== undefined) {
      stream.closeRequest.reject(stream.storedError);
      stream.closeRequest = undefined;
    }
    const writer = stream.writer;
    if (writer !== undefined) {
      writer.closed.reject(stream.storedError);
      markHandled(writer.closed.promise);
    }
  }

  function writableStreamUpdateBackpressure(stream, backpressure) {
    const writer = stream.writer;
    if (writer !== undefined && backpressure !== stream.backpressure) {
      if (backpressure) writer.ready = deferred();
      else writer.ready.resolve(undefined);
    }
    stream.backpressure = backpressure;
  }

  // Writers

  function newWriterRecord() {
    return { kind: "WritableStreamDefaultWriter", api: undefined, stream: undefined, closed: undefined, ready: undefined };
  }

  /** AcquireWritableStreamDefaultWriter */
  function acquireWriter(stream) {
    const writer = instantiate(WritableStreamDefaultWriter, newWriterRecord());
    setUpWriter(writer, stream);
    return writer;
  }

  /** SetUpWritableStreamDefaultWriter */
  function setUpWriter(writer, stream) {
    if (isWritableLocked(stream)) throw new TypeError("This stream is already locked to a writer");
    writer.stream = stream;
    stream.writer = writer;
    const state = stream.state;
    if (state === "writable") {
      const waiting = !writableStreamCloseQueuedOrInFlight(stream) && stream.backpressure;
      writer.ready = waiting ? deferred() : resolvedDeferred(undefined);
      writer.closed = deferred();
    } else if (state === "erroring") {
      writer.ready = rejectedDeferred(stream.storedError);
      writer.closed = deferred();
    } else if (state === "closed") {
      writer.ready = resolvedDeferred(undefined);
      writer.closed = resolvedDeferred(undefined);
    } else {
      writer.ready = rejectedDeferred(stream.storedError);
      writer.closed = rejectedDeferred(stream.storedError);
    }
  }

  function writerCloseWithErrorPropagation(writer) {
    const stream = writer.stream;
    const state = stream.state;
    if (writableStreamCloseQueuedOrInFlight(stream) || state === "closed") return Promise.resolve();
    if (state === "errored") return Promise.reject(stream.storedError);
    return writableStreamClose(stream);
  }

  function writerEnsureClosedPromiseRejected(writer, error) {
    if (writer.closed.state === "pending") writer.closed.reject(error);
    else writer.closed = rejectedDeferred(error);
    markHandled(writer.closed.promise);
  }

  function writerEnsureReadyPromiseRejected(writer, error) {
    if (writer.ready.state === "pending") writer.ready.reject(error);
    else writer.ready = rejectedDeferred(error);
    markHandled(writer.ready.promise);
  }

  function writerGetDesiredSize(writer) {
    const state = writer.stream.state;
    if (state === "errored" || state === "erroring") return null;
    if (state === "closed") return 0;
    return writableControllerGetDesiredSize(writer.stream.controller);
  }

  function writerRelease(writer) {
    const released = new TypeError("The writer was released from its stream");
    writerEnsureReadyPromiseRejected(writer, released);
    writerEnsureClosedPromiseRejected(writer, released);
    writer.stream.writer = undefined;
    writer.stream = undefined;
  }

  function writerWrite(writer, chunk) {
    const stream = writer.stream;
    const controller = stream.controller;
    const chunkSize = writableControllerGetChunkSize(controller, chunk);
    // The size function may have released the writer.
    if (stream !== writer.stream) return Promise.reject(releasedWriterError());
    const state = stream.state;
    if (state === "errored") return Promise.reject(stream.storedError);
    if (writableStreamCloseQueuedOrInFlight(stream) || state === "closed") {
      return Promise.reject(new TypeError("Cannot write to a stream that is closed or closing"));
    }
    if (state === "erroring") return Promise.reject(stream.storedError);
    const promise = writableStreamAddWriteRequest(stream);
    writableControllerWrite(controller, chunk, chunkSize);
    return promise;
  }

  function releasedWriterError() {
    return new TypeError("The writer has been released from its stream");
  }

  // Writable controllers

  /** SetUpWritableStreamDefaultController */
  function setUpWritableController(stream, controller, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm) {
    stream.controller = controller;
    controller.strategySizeAlgorithm = sizeAlgorithm;
    controller.strategyHWM = highWaterMark;
    controller.writeAlgorithm = writeAlgorithm;
    controller.closeAlgorithm = closeAlgorithm;
    controller.abortAlgorithm = abortAlgorithm;
    writableStreamUpdateBackpressure(stream, writableControllerGetBackpressure(controller));
    const startResult = startAlgorithm();
    promiseResolvedWith(startResult).then(
      () => {
        controller.started = true;
        writableControllerAdvanceQueueIfNeeded(controller);
      },
      (reason) => {
        controller.started = true;
        writableStreamDealWithRejection(stream, reason);
      },
    );
  }

  /** SetUpWritableStreamDefaultControllerFromUnderlyingSink */
  function setUpWritableControllerFromSink(stream, sink, dict, highWaterMark, sizeAlgorithm) {
    const controller = instantiate(WritableStreamDefaultController, newWritableControllerRecord(stream));
    const { abort, close, start, write } = dict;
    setUpWritableController(
      stream,
      controller,
      () => (start === undefined ? undefined : apply(start, sink, [controller.api])),
      (chunk) => (write === undefined ? Promise.resolve() : promiseCall(write, sink, [chunk, controller.api])),
      () => (close === undefined ? Promise.resolve() : promiseCall(close, sink, [])),
      (reason) => (abort === undefined ? Promise.resolve() : promiseCall(abort, sink, [reason])),
      highWaterMark,
      sizeAlgorithm,
    );
  }

  function writableControllerAdvanceQueueIfNeeded(controller) {
    const stream = controller.stream;
    if (!controller.started || stream.inFlightWriteRequest !== undefined) return;
    if (stream.state === "erroring") {
      writableStreamFinishErroring(stream);
      return;
    }
    if (controller.queue.length === 0) return;
    const value = peekQueueValue(controller);
    if (value === CLOSE_SENTINEL) writableControllerProcessClose(controller);
    else writableControllerProcessWrite(controller, value);
  }

  function writableControllerClearAlgorithms(controller) {
    controller.writeAlgorithm = undefined;
    controller.closeAlgorithm = undefined;
    controller.abortAlgorithm = undefined;
    controller.strategySizeAlgorithm = undefined;
  }

  function writableControllerClose(controller) {
    enqueueValueWithSize(controller, CLOSE_SENTINEL, 0);
    writableControllerAdvanceQueueIfNeeded(controller);
  }

  function writableControllerError(controller, error) {
    writableControllerClearAlgorithms(controller);
    writableStreamStartErroring(controller.stream, error);
  }

  function writableControllerErrorIfNeeded(controller, error) {
    if (controller.stream.state === "writable") writableControllerError(controller, error);
  }

  function writableControllerGetBackpressure(controller) {
    return writableControllerGetDesiredSize(controller) <= 0;
  }

  function writableControllerGetChunkSize(controller, chunk) {
    // Cleared algorithms: the stream is no longer writable, the write will be refused anyway.
    if (controller.strategySizeAlgorithm === undefined) return 1;
    try {
      return controller.strategySizeAlgorithm(chunk);
    } catch (err) {
      writableControllerErrorIfNeeded(controller, err);
      return 1;
    }
  }

  function writableControllerGetDesiredSize(controller) {
    return controller.strategyHWM - controller.queueTotalSize;
  }

  function writableControllerProcessClose(controller) {
    const stream = controller.stream;
    stream.inFlightCloseRequest = stream.closeRequest; // WritableStreamMarkCloseRequestInFlight
    stream.closeRequest = undefined;
    dequeueValue(controller);
    const sinkClosePromise = controller.closeAlgorithm();
    writableControllerClearAlgorithms(controller);
    sinkClosePromise.then(
      () => writableStreamFinishInFlightClose(stream),
      (reason) => writableStreamFinishInFlightCloseWithError(stream, reason),
    );
  }

  function writableControllerProcessWrite(controller, chunk) {
    const stream = controller.stream;
    stream.inFlightWriteRequest = stream.writeRequests.shift(); // WritableStreamMarkFirstWriteRequestInFlight
    controller.writeAlgorithm(chunk).then(
      () => {
        writableStreamFinishInFlightWrite(stream);
        const state = stream.state;
        dequeueValue(controller);
        if (!writableStreamCloseQueuedOrInFlight(stream) && state === "writable") {
          writableStreamUpdateBackpressure(stream, writableControllerGetBackpressure(controller));
        }
        writableControllerAdvanceQueueIfNeeded(controller);
      },
      (reason) => {
        if (stream.state === "writable") writableControllerClearAlgorithms(controller);
        writableStreamFinishInFlightWriteWithError(stream, reason);
      },
    );
  }

  function writableControllerWrite(controller, chunk, chunkSize) {
    try {
      enqueueValueWithSize(controller, chunk, chunkSize);
    } catch (err) {
      writableControllerErrorIfNeeded(controller, err);
      return;
    }
    const stream = controller.stream;
    if (!writableStreamCloseQueuedOrInFlight(stream) && stream.state === "writable") {
      writableStreamUpdateBackpressure(stream, writableControllerGetBackpressure(controller));
    }
    writableControllerAdvanceQueueIfNeeded(controller);
  }

  /** [[AbortSteps]] */
  function writableControllerAbortSteps(controller, reason) {
    const result = controller.abortAlgorithm(reason);
    writableControllerClearAlgorithms(controller);
    return result;
  }

  // ---------------------------------------------------------------------------
  // WritableStream: public classes

  class WritableStream {
    constructor(underlyingSink = undefined, strategy = undefined) {
      const strategyDict = convertStrategy(strategy);
      const dict = convertDictionary(underlyingSink, "underlyingSink", ["abort", "close", "start", "write"], ["type"]);
      if (dict.type !== undefined) throw new RangeError("WritableStream: invalid type");
      const stream = bind(this, newWritableStreamRecord());
      const size = extractSizeAlgorithm(strategyDict);
      const hwm = extractHighWaterMark(strategyDict, 1);
      setUpWritableControllerFromSink(stream, underlyingSink, dict, hwm, size);
    }

    get locked() {
      return isWritableLocked(own(this, "WritableStream"));
    }

    abort(reason = undefined) {
      const stream = own(this, "WritableStream");
      if (isWritableLocked(stream)) return Promise.reject(new TypeError("Cannot abort a stream that is locked to a writer"));
      return writableStreamAbort(stream, reason);
    }

    close() {
      const stream = own(this, "WritableStream");
      if (isWritableLocked(stream)) return Promise.reject(new TypeError("Cannot close a stream that is locked to a writer"));
      if (writableStreamCloseQueuedOrInFlight(stream)) return Promise.reject(new TypeError("The stream is already closing"));
      return writableStreamClose(stream);
    }

    getWriter() {
      return acquireWriter(own(this, "WritableStream")).api;
    }
  }
  rejectInsteadOfThrowing(WritableStream.prototype, ["abort", "close"]);
  exposeClass(WritableStream);

  class WritableStreamDefaultWriter {
    constructor(stream) {
      setUpWriter(bind(this, newWriterRecord()), own(stream, "WritableStream"));
    }

    get closed() {
      return own(this, "WritableStreamDefaultWriter").closed.promise;
    }

    get desiredSize() {
      const writer = own(this, "WritableStreamDefaultWriter");
      if (writer.stream === undefined) throw releasedWriterError();
      return writerGetDesiredSize(writer);
    }

    get ready() {
      return own(this, "WritableStreamDefaultWriter").ready.promise;
    }

    abort(reason = undefined) {
      const writer = own(this, "WritableStreamDefaultWriter");
      if (writer.stream === undefined) return Promise.reject(releasedWriterError());
      return writableStreamAbort(writer.stream, reason);
    }

    close() {
      const writer = own(this, "WritableStreamDefaultWriter");
      const stream = writer.stream;
      if (stream === undefined) return Promise.reject(releasedWriterError());
      if (writableStreamCloseQueuedOrInFlight(stream)) return Promise.reject(new TypeError("The stream is already closing"));
      return writableStreamClose(stream);
    }

    releaseLock() {
      const writer = own(this, "WritableStreamDefaultWriter");
      if (writer.stream !== undefined) writerRelease(writer);
    }

    write(chunk = undefined) {
      const writer = own(this, "WritableStreamDefaultWriter");
      if (writer.stream === undefined) return Promise.reject(releasedWriterError());
      return writerWrite(writer, chunk);
    }
  }
  rejectInsteadOfThrowing(WritableStreamDefaultWriter.prototype, ["closed", "ready", "abort", "close", "write"]);
  exposeClass(WritableStreamDefaultWriter);

  class WritableStreamDefaultController {
    constructor() {
      throw new TypeError("Illegal constructor");
    }

    get signal() {
      return own(this, "WritableStreamDefaultController").abortController.signal;
    }

    error(reason = undefined) {
      const controller = own(this, "WritableStreamDefaultController");
      if (controller.stream.state === "writable") writableControllerError(controller, reason);
    }
  }
  exposeClass(WritableStreamDefaultController);

  // ---------------------------------------------------------------------------
  // pipeTo (ReadableStreamPipeTo). The spec leaves the read/write loop to the
  // implementation; this one reads a chunk only when the destination is ready
  // (its writer's `ready`), so backpressure propagates to the source.

  function readableStreamPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
    const reader = acquireReader(source);
    const writer = acquireWriter(dest);
    source.disturbed = true;
    let shuttingDown = false;
    let currentWrite = Promise.resolve(); // the last write, never rejects
    const result = deferred();

    function abortAlgorithm() {
      const error = signal.reason;
      const actions = [];
      if (!preventAbort) actions.push(() => (dest.state === "writable" ? writableStreamAbort(dest, error) : Promise.resolve()));
      if (!preventCancel) actions.push(() => (source.state === "readable" ? readableStreamCancel(source, error) : Promise.resolve()));
      shutdownWithAnAction(() => Promise.all(actions.map((action) => action())), true, error);
    }

    /** One chunk: wait until dest is ready, read, start the write. Resolves true when done. */
    function pipeStep() {
      if (shuttingDown) return Promise.resolve(true);
      return writer.ready.promise.then(
        () =>
          new Promise((resolveRead, rejectRead) => {
            readerRead(reader, {
              chunk: (chunk) => {
                currentWrite = writerWrite(writer, chunk).then(undefined, noop);
                resolveRead(false);
              },
              close: () => resolveRead(true),
              error: rejectRead,
            });
          }),
      );
    }

    function pipeLoop() {
      return new Promise((resolveLoop, rejectLoop) => {
        const next = (done) => {
          if (done) resolveLoop();
          else pipeStep().then(next, rejectLoop);
        };
        next(false);
      });
    }

    function waitForWritesToFinish() {
      const oldCurrentWrite = currentWrite;
      return currentWrite.then(() => (oldCurrentWrite !== currentWrite ? waitForWritesToFinish() : undefined));
    }

    function isOrBecomesErrored(stream, closedPromise, action) {
      if (stream.state === "errored") action(stream.storedError);
      else closedPromise.then(undefined, action);
    }

    function isOrBecomesClosed(stream, closedPromise, action) {
      if (stream.state === "closed") action();
      else closedPromise.then(action, noop);
    }

    /** Stop piping; chunks already read are written first, then `action` runs. */
    function shutdownWithAnAction(action, originalIsError = false, originalError = undefined) {
      if (shuttingDown) return;
      shuttingDown = true;
      const doTheRest = () =>
        action().then(
          () => finalize(originalIsError, originalError),
          (newError) => finalize(true, newError),
        );
      if (dest.state === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) waitForWritesToFinish().then(doTheRest);
      else doTheRest();
    }

    function shutdown(isError = false, error = undefined) {
      if (shuttingDown) return;
      shuttingDown = true;
      if (dest.state === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) {
        waitForWritesToFinish().then(() => finalize(isError, error));
      } else {
        finalize(isError, error);
      }
    }

    function finalize(isError, error) {
      writerRelease(writer);
      readerRelease(reader);
      signal?.removeEventListener("abort", abortAlgorithm);
      if (isError) result.reject(error);
      else result.resolve(undefined);
    }

    if (signal !== undefined) {
      if (signal.aborted) {
        abortAlgorithm();
        return result.promise;
      }
      signal.addEventListener("abort", abortAlgorithm);
    }

    // Errors must be propagated forward.
    isOrBecomesErrored(source, reader.closed.promise, (storedError) => {
      if (!preventAbort) shutdownWithAnAction(() => writableStreamAbort(dest, storedError), true, storedError);
      else shutdown(true, storedError);
    });
    // Errors must be propagated backward.
    isOrBecomesErrored(dest, writer.closed.promise, (storedError) => {
      if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, storedError), true, storedError);
      else shutdown(true, storedError);
    });
    // Closing must be propagated forward.
    isOrBecomesClosed(source, reader.closed.promise, () => {
      if (!preventClose) shutdownWithAnAction(() => writerCloseWithErrorPropagation(writer));
      else shutdown();
    });
    // Closing must be propagated backward.
    if (writableStreamCloseQueuedOrInFlight(dest) || dest.state === "closed") {
      const destClosed = new TypeError("The destination stream closed before all data could be piped to it");
      if (!preventCancel) shutdownWithAnAction(() => readableStreamCancel(source, destClosed), true, destClosed);
      else shutdown(true, destClosed);
    }

    markHandled(pipeLoop());
    return result.promise;
  }

  // ---------------------------------------------------------------------------
  // TransformStream

  function initializeTransformStream(stream, startPromise, writableHWM, writableSize, readableHWM, readableSize) {
    const startAlgorithm = () => startPromise;
    stream.writable = createWritableStream(
      startAlgorithm,
      (chunk) => transformStreamSinkWriteAlgorithm(stream, chunk),
      () => transformStreamSinkCloseAlgorithm(stream),
      (reason) => transformStreamSinkAbortAlgorithm(stream, reason),
      writableHWM,
      writableSize,
    );
    stream.readable = createReadableStream(
      startAlgorithm,
      () => transformStreamSourcePullAlgorithm(stream),
      (reason) => transformStreamSourceCancelAlgorithm(stream, reason),
      readableHWM,
      readableSize,
    );
    stream.backpressure = undefined;
    stream.backpressureChangePromise = undefined;
    transformStreamSetBackpressure(stream, true);
    stream.controller = undefined;
  }

  function transformStreamError(stream, error) {
    readableControllerError(stream.readable.controller, error);
    transformStreamErrorWritableAndUnblockWrite(stream, error);
  }

  function transformStreamErrorWritableAndUnblockWrite(stream, error) {
    transformControllerClearAlgorithms(stream.controller);
    writableControllerErrorIfNeeded(stream.writable.controller, error);
    transformStreamUnblockWrite(stream);
  }

  function transformStreamUnblockWrite(stream) {
    if (stream.backpressure) transformStreamSetBackpressure(stream, false);
  }

  function transformStreamSetBackpressure(stream, backpressure) {
    stream.backpressureChangePromise?.resolve(undefined);
    stream.backpressureChangePromise = deferred();
    stream.backpressure = backpressure;
  }

  /** SetUpTransformStreamDefaultControllerFromTransformer */
  function setUpTransformControllerFromTransformer(stream, transformer, dict) {
    const controller = instantiate(TransformStreamDefaultController, {
      kind: "TransformStreamDefaultController",
      api: undefined,
      stream,
      finishPromise: undefined,
      transformAlgorithm: undefined,
      flushAlgorithm: undefined,
      cancelAlgorithm: undefined,
    });
    const { cancel, flush, transform } = dict;
    stream.controller = controller;
    controller.transformAlgorithm =
      transform === undefined
        ? (chunk) => {
            // The identity transform.
            try {
              transformControllerEnqueue(controller, chunk);
              return Promise.resolve();
            } catch (err) {
              return Promise.reject(err);
            }
          }
        : (chunk) => promiseCall(transform, transformer, [chunk, controller.api]);
    controller.flushAlgorithm = () => (flush === undefined ? Promise.resolve() : promiseCall(flush, transformer, [controller.api]));
    controller.cancelAlgorithm = (reason) => (cancel === undefined ? Promise.resolve() : promiseCall(cancel, transformer, [reason]));
  }

  function transformControllerClearAlgorithms(controller) {
    controller.transformAlgorithm = undefined;
    controller.flushAlgorithm = undefined;
    controller.cancelAlgorithm = undefined;
  }

  function transformControllerEnqueue(controller, chunk) {
    const stream = controller.stream;
    const readableController = stream.readable.controller;
    if (!readableControllerCanCloseOrEnqueue(readableController)) {
      throw new TypeError("Cannot enqueue: the readable side is closed or errored");
    }
    try {
      readableControllerEnqueue(readableController, chunk);
    } catch (err) {
      transformStreamErrorWritableAndUnblockWrite(stream, err);
      throw stream.readable.storedError;
    }
    if (readableControllerHasBackpressure(readableController) !== stream.backpressure) {
      transformStreamSetBackpressure(stream, true);
    }
  }

  function transformControllerPerformTransform(controller, chunk) {
    return controller.transformAlgorithm(chunk).then(undefined, (reason) => {
      transformStreamError(controller.stream, reason);
      throw reason;
    });
  }

  function transformControllerTerminate(controller) {
    const stream = controller.stream;
    readableControllerClose(stream.readable.controller);
    transformStreamErrorWritableAndUnblockWrite(stream, new TypeError("The transform stream has been terminated"));
  }

  function transformStreamSinkWriteAlgorithm(stream, chunk) {
    const controller = stream.controller;
    if (!stream.backpressure) return transformControllerPerformTransform(controller, chunk);
    // Wait until the readable side wants more.
    return stream.backpressureChangePromise.promise.then(() => {
      const writable = stream.writable;
      if (writable.state === "erroring") throw writable.storedError;
      return transformControllerPerformTransform(controller, chunk);
    });
  }

  function transformStreamSinkAbortAlgorithm(stream, reason) {
    const controller = stream.controller;
    if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
    const readable = stream.readable;
    const finish = (controller.finishPromise = deferred());
    const cancelPromise = controller.cancelAlgorithm(reason);
    transformControllerClearAlgorithms(controller);
    cancelPromise.then(
      () => {
        if (readable.state === "errored") {
          finish.reject(readable.storedError);
        } else {
          readableControllerError(readable.controller, reason);
          finish.resolve(undefined);
        }
      },
      (error) => {
        readableControllerError(readable.controller, error);
        finish.reject(error);
      },
    );
    return finish.promise;
  }

  function transformStreamSinkCloseAlgorithm(stream) {
    const controller = stream.controller;
    if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
    const readable = stream.readable;
    const finish = (controller.finishPromise = deferred());
    const flushPromise = controller.flushAlgorithm();
    transformControllerClearAlgorithms(controller);
    flushPromise.then(
      () => {
        if (readable.state === "errored") {
          finish.reject(readable.storedError);
        } else {
          readableControllerClose(readable.controller);
          finish.resolve(undefined);
        }
      },
      (error) => {
        readableControllerError(readable.controller, error);
        finish.reject(error);
      },
    );
    return finish.promise;
  }

  function transformStreamSourceCancelAlgorithm(stream, reason) {
    const controller = stream.controller;
    if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
    const writable = stream.writable;
    const finish = (controller.finishPromise = deferred());
    const cancelPromise = controller.cancelAlgorithm(reason);
    transformControllerClearAlgorithms(controller);
    cancelPromise.then(
      () => {
        if (writable.state === "errored") {
          finish.reject(writable.storedError);
        } else {
          writableControllerErrorIfNeeded(writable.controller, reason);
          transformStreamUnblockWrite(stream);
          finish.resolve(undefined);
        }
      },
      (error) => {
        writableControllerErrorIfNeeded(writable.controller, error);
        transformStreamUnblockWrite(stream);
        finish.reject(error);
      },
    );
    return finish.promise;
  }

  function transformStreamSourcePullAlgorithm(stream) {
    transformStreamSetBackpressure(stream, false);
    return stream.backpressureChangePromise.promise;
  }

  class TransformStream {
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
      const writableStrategyDict = convertStrategy(writableStrategy);
      const readableStrategyDict = convertStrategy(readableStrategy);
      const callbacks = ["cancel", "flush", "start", "transform"];
      const dict = convertDictionary(transformer, "transformer", callbacks, ["readableType", "writableType"]);
      if (dict.readableType !== undefined) throw new RangeError("TransformStream: invalid readableType");
      if (dict.writableType !== undefined) throw new RangeError("TransformStream: invalid writableType");
      const readableHWM = extractHighWaterMark(readableStrategyDict, 0);
      const readableSize = extractSizeAlgorithm(readableStrategyDict);
      const writableHWM = extractHighWaterMark(writableStrategyDict, 1);
      const writableSize = extractSizeAlgorithm(writableStrategyDict);
      const stream = bind(this, { kind: "TransformStream", api: undefined });
      const startPromise = deferred();
      initializeTransformStream(stream, startPromise.promise, writableHWM, writableSize, readableHWM, readableSize);
      setUpTransformControllerFromTransformer(stream, transformer, dict);
      const { start } = dict;
      startPromise.resolve(start === undefined ? undefined : apply(start, transformer, [stream.controller.api]));
    }

    get readable() {
      return own(this, "TransformStream").readable.api;
    }

    get writable() {
      return own(this, "TransformStream").writable.api;
    }
  }
  exposeClass(TransformStream);

  class TransformStreamDefaultController {
    constructor() {
      throw new TypeError("Illegal constructor");
    }

    get desiredSize() {
      const controller = own(this, "TransformStreamDefaultController");
      return readableControllerGetDesiredSize(controller.stream.readable.controller);
    }

    enqueue(chunk = undefined) {
      transformControllerEnqueue(own(this, "TransformStreamDefaultController"), chunk);
    }

    error(reason = undefined) {
      transformStreamError(own(this, "TransformStreamDefaultController").stream, reason);
    }

    terminate() {
      transformControllerTerminate(own(this, "TransformStreamDefaultController"));
    }
  }
  exposeClass(TransformStreamDefaultController);

  // ---------------------------------------------------------------------------
  // Queuing strategies. `size` is the same function for every instance, and
  // does not use `this`, as the spec requires.

  function byteLengthSize(chunk) {
    return chunk.byteLength;
  }

  function countSize() {
    return 1;
  }

  function strategyHighWaterMark(init, what) {
    if (init?.highWaterMark === undefined) throw new TypeError(`${what}: highWaterMark is required`);
    return Number(init.highWaterMark);
  }

  class ByteLengthQueuingStrategy {
    #highWaterMark;

    constructor(init) {
      this.#highWaterMark = strategyHighWaterMark(init, "ByteLengthQueuingStrategy");
    }

    get highWaterMark() {
      return this.#highWaterMark;
    }

    get size() {
      return byteLengthSize;
    }
  }
  exposeClass(ByteLengthQueuingStrategy);

  class CountQueuingStrategy {
    #highWaterMark;

    constructor(init) {
      this.#highWaterMark = strategyHighWaterMark(init, "CountQueuingStrategy");
    }

    get highWaterMark() {
      return this.#highWaterMark;
    }

    get size() {
      return countSize;
    }
  }
  exposeClass(CountQueuingStrategy);

  // ---------------------------------------------------------------------------
  // TextEncoderStream and TextDecoderStream (WHATWG Encoding), on a TransformStream.

  class TextEncoderStream {
    #transform;

    constructor() {
      const encoder = new TextEncoder();
      // A chunk may end between the two halves of a surrogate pair.
      let pendingHighSurrogate = "";
      this.#transform = new TransformStream({
        transform(chunk, controller) {
          let text = pendingHighSurrogate + String(chunk);
          pendingHighSurrogate = "";
          const last = text.charCodeAt(text.length - 1);
          if (last >= 0xd800 && last <= 0xdbff) {
            pendingHighSurrogate = text.slice(-1);
            text = text.slice(0, -1);
          }
          if (text !== "") controller.enqueue(encoder.encode(text));
        },
        flush(controller) {
          if (pendingHighSurrogate !== "") controller.enqueue(Uint8Array.of(0xef, 0xbf, 0xbd)); // U+FFFD
        },
      });
    }

    get encoding() {
      return "utf-8";
    }

    get readable() {
      return this.#transform.readable;
    }

    get writable() {
      return this.#transform.writable;
    }
  }
  exposeClass(TextEncoderStream);

  class TextDecoderStream {
    #decoder;
    #transform;

    constructor(label = "utf-8", options = undefined) {
      const decoder = new TextDecoder(label, options);
      this.#decoder = decoder;
      this.#transform = new TransformStream({
        transform(chunk, controller) {
          // decode() reads a missing input as empty; a stream chunk must be bytes.
          if (!(chunk instanceof ArrayBuffer) && !ArrayBuffer.isView(chunk)) {
            throw new TypeError("TextDecoderStream: a chunk must be an ArrayBuffer or an ArrayBufferView");
          }
          const text = decoder.decode(chunk, { stream: true });
          if (text !== "") controller.enqueue(text);
        },
        flush(controller) {
          const text = decoder.decode();
          if (text !== "") controller.enqueue(text);
        },
      });
    }

    get encoding() {
      return this.#decoder.encoding;
    }

    get fatal() {
      return this.#decoder.fatal;
    }

    get ignoreBOM() {
      return this.#decoder.ignoreBOM;
    }

    get readable() {
      return this.#transform.readable;
    }

    get writable() {
      return this.#transform.writable;
    }
  }
  exposeClass(TextDecoderStream);
})();
