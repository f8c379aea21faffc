// Headers, Blob, File, FormData, Request, Response and fetch, as the WHATWG
// Fetch Standard (https://fetch.spec.whatwg.org/), the File API and the HTML
// form-data rules define them, on top of the `__pbs` bridge (BRIDGE.md).
//
// Deliberate differences from the browser Fetch Standard, as in other
// server-side runtimes (Node, Deno, Workers):
// - no CORS, no cookies, no cache, no forbidden request headers, no header
//   guards; `mode`, `credentials`, `cache` … are reported but have no effect;
// - `redirect: "manual"` returns the 3xx response itself (with its
//   `location`), not an opaque-redirect response;
// - a ReadableStream request body does not require `duplex: "half"`, and
//   `fetch` reads it to the end before sending (the host takes whole bodies);
// - `bodyUsed` sees reads made through `text()`, `json()` … and through the
//   streams made here, not reads made directly on a stream the caller passed in.
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const internal = globalThis.__pbsInternal;

  const encoder = new TextEncoder();
  const decoder = new TextDecoder(); // UTF-8 decode: BOM dropped, bad bytes → U+FFFD
  const EMPTY = new Uint8Array(0);
  const CHUNK_SIZE = 65536;

  const toUSV = (value) => `${value}`.toWellFormed();

  // ---------------------------------------------------------------------
  // Bytes

  const isBufferSource = (value) => value instanceof ArrayBuffer || ArrayBuffer.isView(value);

  /** A copy of the bytes of an ArrayBuffer or view (the caller may change them later). */
  function copyBytes(source) {
    if (ArrayBuffer.isView(source)) {
      return new Uint8Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength));
    }
    return new Uint8Array(source.slice(0));
  }

  /** One new, exactly sized array holding all `chunks`. */
  function concatBytes(chunks) {
    const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  /** Bytes as a string of code units 0-255, to search a multipart body by index. */
  function latin1(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return out;
  }

  /**
   * A ReadableStream of `bytes` in chunks of at most 64 KiB. `highWaterMark: 0`
   * makes `pull` run only when someone reads, so `onRead` marks the body used.
   */
  function streamFromBytes(bytes, onRead = undefined) {
    let offset = 0;
    return new ReadableStream(
      {
        pull(controller) {
          onRead?.();
          if (offset < bytes.length) {
            const end = Math.min(offset + CHUNK_SIZE, bytes.length);
            controller.enqueue(bytes.slice(offset, end)); // a copy: the reader owns it
            offset = end;
          }
          if (offset >= bytes.length) controller.close();
        },
      },
      { highWaterMark: 0 },
    );
  }

  async function readAllBytes(stream) {
    const reader = stream.getReader();
    const chunks = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return concatBytes(chunks);
      if (!(value instanceof Uint8Array)) {
        const error = new TypeError("a body stream yielded a chunk that is not a Uint8Array");
        await reader.cancel(error);
        throw error;
      }
      chunks.push(value);
    }
  }

  /** A bridge call; its failure becomes a TypeError with the host's message. */
  function callHost(fn) {
    try {
      return fn();
    } catch (err) {
      throw new TypeError(err?.message ?? String(err), { cause: err });
    }
  }

  // ---------------------------------------------------------------------
  // MIME types

  /** "text/html" from "Text/HTML; charset=utf-8". */
  const mimeEssence = (type) => type.split(";")[0].trim().toLowerCase();

  /** The value of parameter `name` in a Content-Type value, or null. */
  function mimeParameter(type, name) {
    for (const part of type.split(";").slice(1)) {
      const eq = part.indexOf("=");
      if (eq < 0 || part.slice(0, eq).trim().toLowerCase() !== name) continue;
      const value = part.slice(eq + 1).trim();
      return value.startsWith('"') && value.endsWith('"') && value.length > 1 ? value.slice(1, -1) : value;
    }
    return null;
  }

  /**
   * The `set` of a [name, value] list: `entry` replaces the first entry with
   * its name, and the others with that name go. Returns the new list.
   */
  function setEntry(list, entry) {
    const index = list.findIndex(([name]) => name === entry[0]);
    if (index < 0) return [...list, entry];
    return list.filter(([name], i) => i < index || name !== entry[0]).toSpliced(index, 0, entry);
  }

  // ---------------------------------------------------------------------
  // Headers

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  // Names and values already checked, so the common ones (content-type,
  // application/json …) skip the regular expressions, which cost a few µs
  // each in QuickJS's interpreter. Bounded: cleared when full.
  const CHECKED_MAX = 1024;
  const checkedNames = new Map(); // name as given → lowercase
  const checkedValues = new Set(); // values that are already normalized

  function normalizeHeaderName(name) {
    const known = checkedNames.get(name);
    if (known !== undefined) return known;
    name = `${name}`;
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    if (checkedNames.size >= CHECKED_MAX) checkedNames.clear();
    checkedNames.set(name, lower);
    return lower;
  }

  /** Strips HTTP whitespace; a value must be a ByteString without NUL, CR or LF. */
  function normalizeHeaderValue(value) {
    if (checkedValues.has(value)) return value;
    value = `${value}`.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\n\r]|[^\0-\xff]/.test(value)) throw new TypeError(`Invalid header value: ${JSON.stringify(value)}`);
    if (value.length <= 128) {
      if (checkedValues.size >= CHECKED_MAX) checkedValues.clear();
      checkedValues.add(value);
    }
    return value;
  }

  // The common names and values are checked here, at build time, so the
  // snapshot holds them: a fresh instance starts with these caches, and a
  // request that sets them neither runs the expressions nor writes the maps.
  for (const name of [
    "accept", "access-control-allow-headers", "access-control-allow-methods", "access-control-allow-origin",
    "authorization", "cache-control", "content-disposition", "content-encoding", "content-length",
    "content-type", "etag", "last-modified", "location", "set-cookie", "user-agent", "vary",
    "x-content-type-options", "x-request-id",
  ]) {
    normalizeHeaderName(name);
    normalizeHeaderName(name.replace(/(^|-)[a-z]/g, (c) => c.toUpperCase()));
  }
  for (const value of [
    "*", "application/json", "application/json; charset=utf-8", "application/octet-stream", "no-cache",
    "no-store", "text/event-stream", "text/html", "text/html; charset=utf-8", "text/plain",
    "text/plain; charset=utf-8", "text/plain;charset=UTF-8",
  ]) {
    normalizeHeaderValue(value);
  }

  // Builds Headers from the host's [name, value] pairs without validation:
  // the host already checked them, and decodes values as UTF-8, which may
  // leave characters above U+00FF. Set in Headers' static block.
  let headersFromHost;
  let headerList;

  class Headers {
    #list = []; // [lowercase name, value] in insertion order

    constructor(init = undefined) {
      if (init === undefined) return;
      if (init instanceof Headers) {
        this.#list = init.#list.map((pair) => pair.slice());
      } else if (typeof init !== "object" || init === null) {
        throw new TypeError("Headers: init must be an object, an iterable of pairs or a Headers");
      } else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const items = Array.from(pair);
          if (items.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
          this.append(items[0], items[1]);
        }
      } else {
        for (const key of Object.keys(init)) this.append(key, init[key]);
      }
    }

    static {
      headersFromHost = (pairs) => {
        const headers = new Headers();
        headers.#list = pairs.map(([name, value]) => [name.toLowerCase(), value]);
        return headers;
      };
      // The [lowercase name, value] list as set, for `serve` to send: the
      // wire needs neither the sorting nor the combining of `entries()`.
      headerList = (headers) => headers.#list;
    }

    append(name, value) {
      this.#list.push([normalizeHeaderName(name), normalizeHeaderValue(value)]);
    }

    delete(name) {
      name = normalizeHeaderName(name);
      this.#list = this.#list.filter(([n]) => n !== name);
    }

    /** All values of `name` joined with ", ", or null. */
    get(name) {
      name = normalizeHeaderName(name);
      const values = this.#list.filter(([n]) => n === name).map(([, v]) => v);
      return values.length === 0 ? null : values.join(", ");
    }

    getSetCookie() {
      return this.#list.filter(([n]) => n === "set-cookie").map(([, v]) => v);
    }

    has(name) {
      name = normalizeHeaderName(name);
      return this.#list.some(([n]) => n === name);
    }

    set(name, value) {
      this.#list = setEntry(this.#list, [normalizeHeaderName(name), normalizeHeaderValue(value)]);
    }

    /** The spec's "sort and combine": by name, one entry per name except set-cookie. */
    #sortedEntries() {
      const names = [...new Set(this.#list.map(([n]) => n))].sort();
      return names.flatMap((name) =>
        name === "set-cookie"
          ? this.getSetCookie().map((value) => [name, value])
          : [[name, this.get(name)]],
      );
    }

    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("Headers.forEach: callback is not a function");
      for (const [name, value] of this.#sortedEntries()) callback.call(thisArg, value, name, this);
    }

    *entries() {
      yield* this.#sortedEntries();
    }

    *keys() {
      for (const [name] of this.#sortedEntries()) yield name;
    }

    *values() {
      for (const [, value] of this.#sortedEntries()) yield value;
    }

    [Symbol.iterator]() {
      return this.entries();
    }
  }

  // ---------------------------------------------------------------------
  // Blob and File

  let blobBytes; // (blob) → its Uint8Array, shared, never to be modified. Set in Blob's static block.

  /** A Blob type: lowercased, or "" if it has characters outside U+0020-U+007E. */
  function normalizeBlobType(type) {
    type = `${type}`;
    return /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
  }

  function blobPartBytes(part, endings) {
    if (part instanceof Blob) return blobBytes(part);
    if (isBufferSource(part)) return copyBytes(part);
    let text = toUSV(part);
    if (endings === "native") text = text.replace(/\r\n?/g, "\n");
    return encoder.encode(text);
  }

  class Blob {
    #bytes;
    #type;

    constructor(blobParts = [], options = {}) {
      if (typeof blobParts !== "object" || blobParts === null || typeof blobParts[Symbol.iterator] !== "function") {
        throw new TypeError("Blob: blobParts must be an iterable");
      }
      const endings = options?.endings ?? "transparent";
      if (endings !== "transparent" && endings !== "native") {
        throw new TypeError(`Blob: endings must be "transparent" or "native"`);
      }
      this.#bytes = concatBytes(Array.from(blobParts, (part) => blobPartBytes(part, endings)));
      this.#type = normalizeBlobType(options?.type ?? "");
    }

    static {
      blobBytes = (blob) => blob.#bytes;
    }

    get size() {
      return this.#bytes.length;
    }

    get type() {
      return this.#type;
    }

    /** Negative positions count from the end, as in Array.prototype.slice. */
    slice(start = 0, end = this.size, contentType = "") {
      const blob = new Blob();
      blob.#bytes = this.#bytes.subarray(...[start, end].map((n) => relativeIndex(n, this.size)));
      blob.#type = normalizeBlobType(contentType);
      return blob;
    }

    async text() {
      return decoder.decode(this.#bytes);
    }

    async arrayBuffer() {
      return this.#bytes.slice().buffer;
    }

    async bytes() {
      return this.#bytes.slice();
    }

    stream() {
      return streamFromBytes(this.#bytes);
    }
  }

  function relativeIndex(n, size) {
    n = Math.trunc(Number(n)) || 0;
    return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
  }

  class File extends Blob {
    #name;
    #lastModified;

    constructor(fileBits, fileName, options = {}) {
      if (arguments.length < 2) throw new TypeError("File: 2 arguments required (fileBits, fileName)");
      super(fileBits, options);
      this.#name = toUSV(fileName);
      this.#lastModified = options?.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
    }

    get name() {
      return this.#name;
    }

    get lastModified() {
      return this.#lastModified;
    }

    get webkitRelativePath() {
      return "";
    }
  }

  // ---------------------------------------------------------------------
  // FormData

  /** The spec's "create an entry": a Blob value becomes a File with a name. */
  function formEntry(name, value, filename) {
    name = toUSV(name);
    if (!(value instanceof Blob)) {
      if (filename !== undefined) throw new TypeError("FormData: a filename needs a Blob value");
      return [name, toUSV(value)];
    }
    if (value instanceof File && filename === undefined) return [name, value];
    const options = { type: value.type };
    if (value instanceof File) options.lastModified = value.lastModified;
    const fallbackName = value instanceof File ? value.name : "blob";
    return [name, new File([value], filename === undefined ? fallbackName : toUSV(filename), options)];
  }

  let formDataList; // (formData) → its [name, string | File] list. Set in FormData's static block.

  class FormData {
    #list = [];

    constructor(form = undefined) {
      if (form !== undefined) throw new TypeError("FormData: there are no HTML forms here; create it empty");
    }

    static {
      formDataList = (formData) => formData.#list;
    }

    append(name, value, filename = undefined) {
      this.#list.push(formEntry(name, value, filename));
    }

    delete(name) {
      name = toUSV(name);
      this.#list = this.#list.filter(([n]) => n !== name);
    }

    get(name) {
      name = toUSV(name);
      return this.#list.find(([n]) => n === name)?.[1] ?? null;
    }

    getAll(name) {
      name = toUSV(name);
      return this.#list.filter(([n]) => n === name).map(([, v]) => v);
    }

    has(name) {
      name = toUSV(name);
      return this.#list.some(([n]) => n === name);
    }

    set(name, value, filename = undefined) {
      this.#list = setEntry(this.#list, formEntry(name, value, filename));
    }

    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("FormData.forEach: callback is not a function");
      for (let i = 0; i < this.#list.length; i++) {
        const [name, value] = this.#list[i];
        callback.call(thisArg, value, name, this);
      }
    }

    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i].slice();
    }

    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }

    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }

    [Symbol.iterator]() {
      return this.entries();
    }
  }

  // multipart/form-data as HTML's "multipart/form-data encoding algorithm"
  // writes it: line breaks in names and string values become CRLF, then
  // names and filenames escape CR, LF and '"'.
  const toCRLF = (s) => s.replace(/\r\n|\r|\n/g, "\r\n");
  const escapeMultipartName = (s) => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");

  function encodeMultipart(list) {
    const boundary = "----pbsFormBoundary" + Array.from(pbs.randomBytes(12), (b) => b.toString(16).padStart(2, "0")).join("");
    const chunks = [];
    for (const [name, value] of list) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeMultipartName(toCRLF(name))}"`;
      if (typeof value === "string") {
        chunks.push(encoder.encode(`${head}\r\n\r\n${toCRLF(value)}\r\n`));
      } else {
        head += `; filename="${escapeMultipartName(value.name)}"\r\n`;
        head += `Content-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
        chunks.push(encoder.encode(head), blobBytes(value), encoder.encode("\r\n"));
      }
    }
    chunks.push(encoder.encode(`--${boundary}--\r\n`));
    return { bytes: concatBytes(chunks), type: `multipart/form-data; boundary=${boundary}` };
  }

  /** Parses a multipart/form-data body (RFC 7578) into a FormData. */
  function parseMultipart(bytes, boundary) {
    const text = latin1(bytes); // one character per byte, so indexes are byte offsets
    const delimiter = "--" + boundary;
    const malformed = () => new TypeError("the multipart/form-data body is malformed");
    const formData = new FormData();
    let position = text.indexOf(delimiter);
    if (position < 0) throw malformed();
    for (;;) {
      position += delimiter.length;
      if (text.startsWith("--", position)) return formData; // the closing delimiter
      const headersStart = text.indexOf("\r\n", position) + 2;
      const headersEnd = text.indexOf("\r\n\r\n", headersStart - 2);
      if (headersStart < 2 || headersEnd < 0) throw malformed();
      const contentStart = headersEnd + 4;
      const next = text.indexOf("\r\n" + delimiter, contentStart);
      if (next < 0) throw malformed();
      const partHeaders = decoder.decode(bytes.subarray(headersStart, headersEnd));
      appendMultipartPart(formData, partHeaders, bytes.subarray(contentStart, next));
      position = next + 2;
    }
  }

  function appendMultipartPart(formData, partHeaders, content) {
    let disposition = "";
    let type = "text/plain";
    for (const line of partHeaders.split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === "content-disposition") disposition = line.slice(colon + 1);
      if (name === "content-type") type = line.slice(colon + 1).trim();
    }
    const name = mimeParameter(disposition, "name");
    if (name === null) throw new TypeError("a multipart/form-data part has no name");
    const filename = mimeParameter(disposition, "filename");
    if (filename === null) formData.append(name, decoder.decode(content));
    else formData.append(name, new File([content], filename, { type }));
  }

  // ---------------------------------------------------------------------
  // Bodies

  /**
   * The spec's "extract a body": {stream, source, type}. `source` holds the
   * bytes when they are known up front (everything but a ReadableStream).
   */
  function extractBody(object) {
    if (object instanceof ReadableStream) return { stream: object, source: null, type: null };
    if (object instanceof Blob) return { stream: null, source: blobBytes(object), type: object.type || null };
    if (isBufferSource(object)) return { stream: null, source: copyBytes(object), type: null };
    if (object instanceof FormData) {
      const { bytes, type } = encodeMultipart(formDataList(object));
      return { stream: null, source: bytes, type };
    }
    if (object instanceof URLSearchParams) {
      return { stream: null, source: encoder.encode(object.toString()), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    }
    return { stream: null, source: encoder.encode(toUSV(object)), type: "text/plain;charset=UTF-8" };
  }

  // Body internals shared with Request, Response and fetch; set in Body's static block.
  let setBody; // (message, bodyInit) → the content type it implies, or null
  let hasBody; // (message) → whether it has a body (null or not), without making its stream
  let readBody; // (message) → Promise<Uint8Array | null>, marking the body used
  let cloneBody; // (from, to): `to` gets a copy (a tee when it is a stream)
  let transferBody; // (from, to): `to` takes the body over; `from` is used up
  let takeKnownBytes; // (message) → its bytes if known and no stream was made (body used), else undefined

  /** The body mixin of Request and Response. */
  class Body {
    #hasBody = false;
    #source = null; // Uint8Array, shared between clones and never handed out
    #stream = null; // made from #source on first access to `body`
    #disturbed = false;

    static {
      setBody = (message, init) => {
        const { stream, source, type } = extractBody(init);
        message.#hasBody = true;
        message.#stream = stream;
        message.#source = source;
        return type;
      };
      hasBody = (message) => message.#hasBody;
      readBody = (message) => (message.#hasBody ? message.#consume() : Promise.resolve(null));
      // Known bytes are shared (a stream already made from them is unread,
      // as #checkUsable says, and `to` makes its own); a stream is teed.
      cloneBody = (from, to) => {
        from.#checkUsable();
        to.#hasBody = from.#hasBody;
        if (from.#source !== null) to.#source = from.#source;
        else if (from.#stream !== null) [from.#stream, to.#stream] = from.#stream.tee();
      };
      // `serve` sends a body of known bytes in one write, without a stream.
      takeKnownBytes = (message) => {
        if (!message.#hasBody || message.#stream !== null || message.#disturbed) return undefined;
        message.#disturbed = true;
        return message.#source;
      };
      transferBody = (from, to) => {
        from.#checkUsable();
        to.#hasBody = true;
        to.#source = from.#source;
        if (from.#source === null) to.#stream = from.#stream;
        from.#disturbed = true;
      };
    }

    get body() {
      if (!this.#hasBody) return null;
      this.#stream ??= streamFromBytes(this.#disturbed ? EMPTY : this.#source, () => {
        this.#disturbed = true;
      });
      return this.#stream;
    }

    get bodyUsed() {
      return this.#disturbed;
    }

    #checkUsable() {
      if (this.#disturbed || this.#stream?.locked) throw new TypeError("Body is unusable: it has already been read");
    }

    /** All the bytes, in a new array; the body is used afterwards. */
    async #consume() {
      if (!this.#hasBody) return new Uint8Array(0);
      this.#checkUsable();
      this.#disturbed = true;
      return this.#stream === null ? this.#source.slice() : readAllBytes(this.#stream);
    }

    async arrayBuffer() {
      return (await this.#consume()).buffer;
    }

    async bytes() {
      return this.#consume();
    }

    async text() {
      return decoder.decode(await this.#consume());
    }

    async json() {
      return JSON.parse(await this.text());
    }

    async blob() {
      const bytes = await this.#consume();
      return new Blob([bytes], { type: this.headers.get("content-type") ?? "" });
    }

    async formData() {
      const type = this.headers.get("content-type") ?? "";
      const bytes = await this.#consume();
      switch (mimeEssence(type)) {
        case "multipart/form-data": {
          const boundary = mimeParameter(type, "boundary");
          if (!boundary) throw new TypeError("the multipart/form-data content type has no boundary");
          return parseMultipart(bytes, boundary);
        }
        case "application/x-www-form-urlencoded": {
          const formData = new FormData();
          for (const [name, value] of new URLSearchParams(decoder.decode(bytes))) formData.append(name, value);
          return formData;
        }
        default:
          throw new TypeError(`cannot read a body of type ${JSON.stringify(type)} as FormData`);
      }
    }
  }

  /** Sets the body and, unless the headers already have one, its content type. */
  function initBody(message, headers, bodyInit) {
    const type = setBody(message, bodyInit);
    if (type !== null && !headers.has("content-type")) headers.append("content-type", type);
  }

  // ---------------------------------------------------------------------
  // Request

  const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
  const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
  const REDIRECT_MODES = ["follow", "error", "manual"];

  function normalizeMethod(method) {
    method = `${method}`;
    if (!TOKEN.test(method)) throw new TypeError(`Invalid method: ${JSON.stringify(method)}`);
    const upper = method.toUpperCase();
    if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`The method ${upper} is not allowed`);
    // Only these are uppercased; "patch" stays "patch", as the spec says.
    return NORMALIZED_METHODS.has(upper) ? upper : method;
  }

  // The href only, natively: building a whole URL object costs ~15 µs.
  function parseRequestURL(input) {
    const href = pbs.requestHref(`${input}`);
    if (href === null) throw new TypeError(`Failed to parse URL from ${input}`);
    if (href === false) {
      throw new TypeError(`Request cannot be constructed from a URL that includes credentials: ${input}`);
    }
    return href;
  }

  // What `makeIncomingRequest` passes the constructor: only code in this
  // file can, and the constructor then skips the URL parse, the Headers and
  // the options object it would make only to have them replaced.
  const INCOMING = Symbol("incoming request");
  const INCOMING_OPTIONS = Object.freeze({
    cache: "default",
    credentials: "same-origin",
    integrity: "",
    keepalive: false,
    mode: "cors",
    referrer: "about:client",
    referrerPolicy: "",
  });

  /**
   * A signal that aborts when `signal` does: a Request's own signal; null
   * when there is none to follow (the getter makes one that never aborts
   * when asked: most requests never are).
   */
  function followSignal(signal) {
    if (signal === null || signal === undefined) return null;
    const controller = new AbortController();
    if (!(signal instanceof AbortSignal)) throw new TypeError("Request: signal must be an AbortSignal");
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
    return controller.signal;
  }

  // (method, url, headers, body stream or null) → the Request of an
  // incoming call, without the constructor's checks: the host already
  // parsed the request. Its URL is normalized the first time it is read.
  // Set in Request's static block.
  let makeIncomingRequest;

  class Request extends Body {
    #method;
    #url;
    #rawUrl = null; // an incoming request's URL, until `url` is read
    #headers;
    #signal;
    #redirect;
    #options; // the modes this runtime reports but does not act on

    constructor(input, init = {}) {
      super();
      if (input === INCOMING) {
        // makeIncomingRequest sets the rest.
        this.#redirect = "follow";
        this.#signal = null;
        this.#options = INCOMING_OPTIONS;
        return;
      }
      init ??= {};
      const source = input instanceof Request ? input : null;
      this.#url = source === null ? parseRequestURL(input) : source.url;
      this.#method = init.method === undefined ? (source?.#method ?? "GET") : normalizeMethod(init.method);
      this.#redirect = init.redirect ?? source?.#redirect ?? "follow";
      if (!REDIRECT_MODES.includes(this.#redirect)) {
        throw new TypeError(`Request: redirect must be one of ${REDIRECT_MODES.join(", ")}`);
      }
      this.#signal = followSignal("signal" in init ? init.signal : source?.#signal);
      this.#headers = new Headers(init.headers ?? source?.#headers);
      this.#options = {
        cache: init.cache ?? source?.#options.cache ?? "default",
        credentials: init.credentials ?? source?.#options.credentials ?? "same-origin",
        integrity: init.integrity ?? source?.#options.integrity ?? "",
        keepalive: Boolean(init.keepalive ?? source?.#options.keepalive),
        mode: init.mode ?? source?.#options.mode ?? "cors",
        referrer: init.referrer ?? source?.#options.referrer ?? "about:client",
        referrerPolicy: init.referrerPolicy ?? source?.#options.referrerPolicy ?? "",
      };

      const hasInitBody = init.body !== undefined && init.body !== null;
      const inputHasBody = source !== null && hasBody(source);
      if ((hasInitBody || inputHasBody) && (this.#method === "GET" || this.#method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      if (hasInitBody) initBody(this, this.#headers, init.body);
      else if (inputHasBody) transferBody(source, this);
    }

    static {
      makeIncomingRequest = (method, url, headers, body) => {
        const request = new Request(INCOMING);
        request.#method = method;
        request.#rawUrl = url;
        request.#headers = headers;
        if (body !== null) setBody(request, body);
        return request;
      };
    }

    get method() {
      return this.#method;
    }

    get url() {
      if (this.#rawUrl !== null) {
        // `false` (credentials) cannot come from the host; keep the text.
        const href = pbs.requestHref(this.#rawUrl);
        this.#url = typeof href === "string" ? href : this.#rawUrl;
        this.#rawUrl = null;
      }
      return this.#url;
    }

    get headers() {
      return this.#headers;
    }

    get signal() {
      return (this.#signal ??= new AbortController().signal);
    }

    get redirect() {
      return this.#redirect;
    }

    get cache() {
      return this.#options.cache;
    }

    get credentials() {
      return this.#options.credentials;
    }

    get integrity() {
      return this.#options.integrity;
    }

    get keepalive() {
      return this.#options.keepalive;
    }

    get mode() {
      return this.#options.mode;
    }

    get referrer() {
      return this.#options.referrer;
    }

    get referrerPolicy() {
      return this.#options.referrerPolicy;
    }

    get destination() {
      return "";
    }

    get duplex() {
      return "half";
    }

    clone() {
      // Without a body here, so that the constructor does not take this one over.
      const copy = new Request(this.url, {
        method: this.#method,
        headers: this.#headers,
        signal: this.signal,
        redirect: this.#redirect,
        ...this.#options,
      });
      cloneBody(this, copy);
      return copy;
    }
  }

  // ---------------------------------------------------------------------
  // Response

  const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
  const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

  // (fields) → a Response with the given status, headers, body, url …
  // without the constructor's checks: for network responses and clones.
  // Set in Response's static block.
  let makeResponse;

  class Response extends Body {
    #status = 200;
    #statusText = "";
    #headers;
    #type = "default";
    #url = "";
    #redirected = false;

    constructor(body = null, init = {}) {
      super();
      init ??= {};
      const status = init.status === undefined ? 200 : Math.trunc(Number(init.status));
      if (!(status >= 200 && status <= 599)) {
        throw new RangeError(`Response: status must be in the range 200 to 599, got ${init.status}`);
      }
      const statusText = `${init.statusText ?? ""}`;
      if (statusText !== "" && !/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText)) {
        throw new TypeError(`Response: invalid statusText ${JSON.stringify(statusText)}`);
      }
      this.#status = status;
      this.#statusText = statusText;
      this.#headers = new Headers(init.headers);
      if (body !== null && body !== undefined) {
        if (NULL_BODY_STATUSES.has(status)) throw new TypeError(`Response with status ${status} cannot have a body`);
        initBody(this, this.#headers, body);
      }
    }

    static {
      makeResponse = ({ status, statusText = "", headers, body = null, type = "default", url = "", redirected = false }) => {
        const response = new Response(body);
        response.#status = status;
        response.#statusText = statusText;
        response.#headers = headers;
        response.#type = type;
        response.#url = url;
        response.#redirected = redirected;
        return response;
      };
    }

    static error() {
      return makeResponse({ status: 0, headers: new Headers(), type: "error" });
    }

    static redirect(url, status = 302) {
      const location = new URL(url).href;
      if (!REDIRECT_STATUSES.has(status)) throw new RangeError(`Response.redirect: invalid status ${status}`);
      return new Response(null, { status, headers: { location } });
    }

    /** A JSON response; content-type application/json unless init.headers sets one. */
    static json(data, init = {}) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the data cannot be serialized to JSON");
      const headers = new Headers(init?.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(text, { ...init, headers });
    }

    get type() {
      return this.#type;
    }

    get url() {
      return this.#url;
    }

    get redirected() {
      return this.#redirected;
    }

    get status() {
      return this.#status;
    }

    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }

    get statusText() {
      return this.#statusText;
    }

    get headers() {
      return this.#headers;
    }

    clone() {
      const copy = makeResponse({
        status: this.#status,
        statusText: this.#statusText,
        headers: new Headers(this.#headers),
        type: this.#type,
        url: this.#url,
        redirected: this.#redirected,
      });
      cloneBody(this, copy);
      return copy;
    }
  }

  // ---------------------------------------------------------------------
  // fetch

  // Dropped when a redirect turns the request into a GET without a body.
  const REQUEST_BODY_HEADERS = ["content-encoding", "content-language", "content-location", "content-type", "content-length"];
  // Dropped when a redirect leaves the origin, so credentials do not follow
  // it (the spec names authorization; cookies as undici does).
  const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie"];
  const MAX_REDIRECTS = 20;

  async function fetch(input, init = undefined) {
    const request = new Request(input, init);
    request.signal.throwIfAborted();
    const body = await readBody(request);
    return fetchFollowingRedirects(request, body);
  }

  async function fetchFollowingRedirects(request, body) {
    const signal = request.signal;
    const headers = new Headers(request.headers);
    if (!headers.has("accept")) headers.set("accept", "*/*");
    let method = request.method;
    let url = request.url;
    for (let redirects = 0; ; redirects++) {
      const result = await fetchOnce(method, url, headers, body, signal);
      const responseHeaders = headersFromHost(result.headers);
      const location = REDIRECT_STATUSES.has(result.status) ? responseHeaders.get("location") : null;
      if (location === null || request.redirect === "manual") {
        return networkResponse(result, responseHeaders, { url, redirected: redirects > 0, method, signal });
      }
      pbs.close(result.body);
      if (request.redirect === "error") throw new TypeError(`fetch ${url}: redirected, and redirect is "error"`);
      if (redirects === MAX_REDIRECTS) throw new TypeError(`fetch ${request.url}: more than ${MAX_REDIRECTS} redirects`);
      const next = URL.parse(location, url);
      if (next === null || (next.protocol !== "http:" && next.protocol !== "https:")) {
        throw new TypeError(`fetch ${url}: cannot follow the redirect to ${JSON.stringify(location)}`);
      }
      const status = result.status;
      if (((status === 301 || status === 302) && method === "POST") || (status === 303 && method !== "GET" && method !== "HEAD")) {
        method = "GET";
        body = null;
        for (const name of REQUEST_BODY_HEADERS) headers.delete(name);
      }
      if (new URL(url).origin !== next.origin) {
        for (const name of CREDENTIAL_HEADERS) headers.delete(name);
      }
      url = next.href;
    }
  }

  /**
   * One request through the host; resolves with {status, headers, body token}.
   * Aborting closes the token, which the host then reports as ready, so the
   * wait below ends and the abort is noticed.
   */
  async function fetchOnce(method, url, headers, body, signal) {
    signal.throwIfAborted();
    const token = callHost(() => pbs.fetchStart(method, url, [...headers], body));
    const abort = () => pbs.close(token);
    signal.addEventListener("abort", abort);
    try {
      for (;;) {
        const result = callHost(() => pbs.fetchResult(token));
        if (result !== null) return result;
        await internal.waitFor(token);
        signal.throwIfAborted();
      }
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }

  function networkResponse(result, headers, { url, redirected, method, signal }) {
    let body = null;
    if (method === "HEAD" || NULL_BODY_STATUSES.has(result.status)) pbs.close(result.body);
    else body = hostBodyStream(result.body, signal);
    return makeResponse({
      status: result.status,
      headers,
      body,
      type: "basic",
      url: url.split("#")[0], // the fragment is never part of Response.url
      redirected,
    });
  }

  /**
   * A ReadableStream over a host body token: each read takes what has
   * arrived (up to 64 KiB), waiting on the token when nothing has. Aborting
   * the signal closes the token and errors the stream with the reason.
   */
  function hostBodyStream(token, signal) {
    let finished = false; // the end, an error, an abort or a cancel: the token is closed
    let onAbort;
    const stop = () => {
      finished = true;
      signal.removeEventListener("abort", onAbort);
      pbs.close(token);
    };
    return new ReadableStream(
      {
        start(controller) {
          onAbort = () => {
            stop();
            controller.error(signal.reason);
          };
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort);
        },
        async pull(controller) {
          // Closing the token wakes a pending wait, so an abort or a cancel
          // during the wait ends this loop.
          while (!finished) {
            let chunk;
            try {
              chunk = callHost(() => pbs.bodyRead(token, CHUNK_SIZE));
            } catch (err) {
              stop();
              throw err;
            }
            if (chunk === undefined) {
              await internal.waitFor(token);
            } else if (chunk === null) {
              stop();
              controller.close();
            } else {
              controller.enqueue(chunk);
              return;
            }
          }
        },
        cancel: stop,
      },
      { highWaterMark: 0 },
    );
  }

  // For 60-serve.js: the incoming request's headers and body.
  internal.headersFromHost = headersFromHost;
  internal.headerList = (headers) => headerList(headers);
  internal.hostBodyStream = hostBodyStream;
  internal.makeIncomingRequest = (method, url, headers, body) => makeIncomingRequest(method, url, headers, body);
  internal.takeKnownBytes = (message) => takeKnownBytes(message);
  internal.exposeClass(Headers);
  internal.exposeClass(Blob);
  internal.exposeClass(File);
  internal.exposeClass(FormData);
  internal.exposeClass(Request);
  internal.exposeClass(Response);
  internal.expose("fetch", fetch);
})();
