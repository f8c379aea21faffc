// URL and URLSearchParams, as the WHATWG URL Standard defines them
// (https://url.spec.whatwg.org/). Parsing and the URL setters are native:
// `__pbs.urlParse` / `__pbs.urlSet` run the `url` crate (see
// guest-js/src/bridge/url.rs); a parser in JS costs ~200 µs per URL in
// QuickJS's interpreter. URLSearchParams and the form encoding are here.
//
// Not implemented: non-UTF-8 query encodings (not reachable from `URL`) and
// `URL.createObjectURL`.
(() => {
  "use strict";

  const { exposeClass } = globalThis.__pbsInternal;
  const pbs = globalThis.__pbs;

  // WebIDL USVString: lone surrogates become U+FFFD (and a Symbol throws).
  const toUSV = (value) => `${value}`.toWellFormed();

  // ---------------------------------------------------------------------
  // Percent-encoding

  // Each set lists the printable ASCII characters it adds; C0 controls and
  // everything above U+007E are in every set.
  const QUERY_SET = ' "#<>';
  const PATH_SET = QUERY_SET + "?`{}";
  const USERINFO_SET = PATH_SET + "/:;=@[\\]^|";
  const COMPONENT_SET = USERINFO_SET + "$%&+,";
  const FORM_SET = COMPONENT_SET + "!'()~";

  const hex2 = (byte) => "%" + byte.toString(16).toUpperCase().padStart(2, "0");

  /** One code point, percent-encoded as UTF-8 if `set` contains it. */
  function percentEncode(ch, set) {
    const cp = ch.codePointAt(0);
    if (cp > 0x7e) return encodeURIComponent(ch); // every byte of its UTF-8 form, escaped
    if (cp < 0x20 || set.includes(ch)) return hex2(cp);
    return ch;
  }

  const encoder = new TextEncoder();
  // "UTF-8 decode without BOM": a leading BOM is kept, bad bytes become U+FFFD.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const isHexDigit = (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

  /** Percent-decodes the UTF-8 bytes of `string`, then decodes them as UTF-8. */
  function percentDecode(string) {
    if (!string.includes("%")) return string;
    const bytes = encoder.encode(string);
    const out = new Uint8Array(bytes.length);
    let n = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0x25 && isHexDigit(bytes[i + 1]) && isHexDigit(bytes[i + 2])) {
        out[n++] = parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
        i += 2;
      } else {
        out[n++] = bytes[i];
      }
    }
    return decoder.decode(out.subarray(0, n));
  }

  // ---------------------------------------------------------------------
  // application/x-www-form-urlencoded

  function parseFormUrlencoded(input) {
    const list = [];
    for (const sequence of input.split("&")) {
      if (sequence === "") continue;
      const eq = sequence.indexOf("=");
      const name = eq < 0 ? sequence : sequence.slice(0, eq);
      const value = eq < 0 ? "" : sequence.slice(eq + 1);
      list.push([formDecode(name), formDecode(value)]);
    }
    return list;
  }

  const formDecode = (s) => percentDecode(s.replaceAll("+", " "));

  function formEncode(string) {
    let out = "";
    for (const ch of string) out += ch === " " ? "+" : percentEncode(ch, FORM_SET);
    return out;
  }

  const serializeFormUrlencoded = (list) =>
    list.map(([name, value]) => `${formEncode(name)}=${formEncode(value)}`).join("&");

  // Ties a URLSearchParams to the URL whose query it mirrors (through an
  // object with a `query` accessor), re-reading its list from that query.
  // Set in URLSearchParams' static block.
  let bindSearchParams;

  class URLSearchParams {
    #list = [];
    #url = null; // `{query}` of the URL this object mirrors, if any

    constructor(init = "") {
      if ((typeof init === "object" || typeof init === "function") && init !== null) {
        this.#list = typeof init[Symbol.iterator] === "function" ? pairsFromIterable(init) : pairsFromRecord(init);
      } else {
        init = toUSV(init);
        this.#list = parseFormUrlencoded(init.startsWith("?") ? init.slice(1) : init);
      }
    }

    static {
      bindSearchParams = (params, url) => {
        params.#url = url;
        params.#list = url.query === null ? [] : parseFormUrlencoded(url.query);
      };
    }

    /** Writes the list back into the URL's query. */
    #update() {
      if (this.#url === null) return;
      const query = serializeFormUrlencoded(this.#list);
      this.#url.query = query === "" ? null : query;
    }

    get size() {
      return this.#list.length;
    }

    append(name, value) {
      this.#list.push([toUSV(name), toUSV(value)]);
      this.#update();
    }

    delete(name, value = undefined) {
      name = toUSV(name);
      value = value === undefined ? undefined : toUSV(value);
      this.#list = this.#list.filter(([n, v]) => !(n === name && (value === undefined || v === value)));
      this.#update();
    }

    get(name) {
      name = toUSV(name);
      return this.#list.find(([n]) => n === name)?.[1] ?? null;
    }

    getAll(name) {
      name = toUSV(name);
      return this.#list.filter(([n]) => n === name).map(([, v]) => v);
    }

    has(name, value = undefined) {
      name = toUSV(name);
      value = value === undefined ? undefined : toUSV(value);
      return this.#list.some(([n, v]) => n === name && (value === undefined || v === value));
    }

    /** Sets the first `name` to `value` and removes the others. */
    set(name, value) {
      name = toUSV(name);
      value = toUSV(value);
      const index = this.#list.findIndex(([n]) => n === name);
      if (index < 0) {
        this.#list.push([name, value]);
      } else {
        this.#list[index] = [name, value];
        this.#list = this.#list.filter(([n], i) => i <= index || n !== name);
      }
      this.#update();
    }

    /** A stable sort by name, comparing UTF-16 code units. */
    sort() {
      this.#list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.#update();
    }

    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: callback is not a function");
      for (let i = 0; i < this.#list.length; i++) {
        const [name, value] = this.#list[i];
        callback.call(thisArg, value, name, this);
      }
    }

    // The iterators read the live list by index, like the spec's iterators.
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

    toString() {
      return serializeFormUrlencoded(this.#list);
    }
  }

  function pairsFromIterable(init) {
    return Array.from(init, (pair) => {
      const items = Array.from(pair);
      if (items.length !== 2) throw new TypeError("URLSearchParams: each pair must have exactly two items");
      return [toUSV(items[0]), toUSV(items[1])];
    });
  }

  function pairsFromRecord(init) {
    const list = [];
    for (const key of Reflect.ownKeys(init)) {
      if (typeof key !== "string" || !Object.prototype.propertyIsEnumerable.call(init, key)) continue;
      list.push([toUSV(key), toUSV(init[key])]);
    }
    return list;
  }

  // ---------------------------------------------------------------------
  // URL

  // Indexes into the parts `__pbs.urlParse` / `urlSet` return.
  const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5,
    HOSTNAME = 6, PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;

  function parseParts(url, base) {
    if (base === undefined) return pbs.urlParse(toUSV(url));
    return pbs.urlParse(toUSV(url), toUSV(base));
  }

  function invalidURL(url, base) {
    const where = base === undefined ? "" : ` (base ${JSON.stringify(String(base))})`;
    return new TypeError(`Invalid URL: ${JSON.stringify(String(url))}${where}`);
  }

  class URL {
    #parts;
    #searchParams = new URLSearchParams();

    constructor(url, base = undefined) {
      const parts = parseParts(url, base);
      if (parts === null) throw invalidURL(url, base);
      this.#parts = parts;
      this.#bindSearchParams();
    }

    static canParse(url, base = undefined) {
      return parseParts(url, base) !== null;
    }

    static parse(url, base = undefined) {
      const parts = parseParts(url, base);
      return parts === null ? null : new URL(parts[HREF]);
    }

    /** searchParams reads and writes this URL's query through `query`. */
    #bindSearchParams() {
      const self = this;
      bindSearchParams(this.#searchParams, {
        get query() {
          const search = self.#parts[SEARCH];
          return search === "" ? (self.#parts[HREF].includes("?") ? "" : null) : search.slice(1);
        },
        set query(value) {
          self.#parts = pbs.urlSet(self.#parts[HREF], "search", value ?? "");
        },
      });
    }

    /** A setter: the standard ignores values it cannot apply. */
    #set(which, value) {
      this.#parts = pbs.urlSet(this.#parts[HREF], which, toUSV(value));
    }

    get href() { return this.#parts[HREF]; }
    set href(value) {
      const parts = pbs.urlParse(toUSV(value));
      if (parts === null) throw invalidURL(value);
      this.#parts = parts;
      this.#bindSearchParams();
    }

    get origin() { return this.#parts[ORIGIN]; }
    get protocol() { return this.#parts[PROTOCOL]; }
    set protocol(value) { this.#set("protocol", value); }
    get username() { return this.#parts[USERNAME]; }
    set username(value) { this.#set("username", value); }
    get password() { return this.#parts[PASSWORD]; }
    set password(value) { this.#set("password", value); }
    get host() { return this.#parts[HOST]; }
    set host(value) { this.#set("host", value); }
    get hostname() { return this.#parts[HOSTNAME]; }
    set hostname(value) { this.#set("hostname", value); }
    get port() { return this.#parts[PORT]; }
    set port(value) { this.#set("port", value); }
    get pathname() { return this.#parts[PATHNAME]; }
    set pathname(value) { this.#set("pathname", value); }
    get search() { return this.#parts[SEARCH]; }
    set search(value) {
      this.#set("search", value);
      this.#bindSearchParams();
    }
    get searchParams() { return this.#searchParams; }
    get hash() { return this.#parts[HASH]; }
    set hash(value) { this.#set("hash", value); }

    toString() { return this.href; }
    toJSON() { return this.href; }
  }

  exposeClass(URL);
  exposeClass(URLSearchParams);
})();
