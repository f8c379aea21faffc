// URL and URLSearchParams, as the WHATWG URL Standard defines them
// (https://url.spec.whatwg.org/). The parser is the spec's state machine,
// one method per state, so each step can be checked against the text.
//
// Not implemented: non-UTF-8 query encodings (not reachable from `URL`),
// the full UTS #46 mapping table (non-ASCII hosts are lowercased,
// NFKC-normalised and punycode-encoded, which covers ordinary IDNs), and
// `URL.createObjectURL`.
(() => {
  "use strict";

  const { exposeClass } = globalThis.__pbsInternal;

  // WebIDL USVString: lone surrogates become U+FFFD (and a Symbol throws).
  const toUSV = (value) => `${value}`.toWellFormed();

  // ---------------------------------------------------------------------
  // Percent-encoding

  // Each set lists the printable ASCII characters it adds; C0 controls and
  // everything above U+007E are in every set.
  const C0_CONTROL_SET = "";
  const FRAGMENT_SET = ' "<>`';
  const QUERY_SET = ' "#<>';
  const SPECIAL_QUERY_SET = QUERY_SET + "'";
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

  function percentEncodeString(string, set) {
    let out = "";
    for (const ch of string) out += percentEncode(ch, set);
    return out;
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

  // ---------------------------------------------------------------------
  // Hosts

  const FAILURE = Symbol("failure");

  const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
  const FORBIDDEN_DOMAIN = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;

  /** The serialized host of `input`, or FAILURE. */
  function parseHost(input, isOpaque) {
    if (input.startsWith("[")) {
      if (!input.endsWith("]")) return FAILURE;
      const address = parseIPv6(input.slice(1, -1));
      return address === FAILURE ? FAILURE : `[${serializeIPv6(address)}]`;
    }
    if (isOpaque) {
      return FORBIDDEN_HOST.test(input) ? FAILURE : percentEncodeString(input, C0_CONTROL_SET);
    }
    const asciiDomain = domainToASCII(percentDecode(input));
    if (asciiDomain === FAILURE || FORBIDDEN_DOMAIN.test(asciiDomain)) return FAILURE;
    if (endsInANumber(asciiDomain)) {
      const address = parseIPv4(asciiDomain);
      return address === FAILURE ? FAILURE : serializeIPv4(address);
    }
    return asciiDomain;
  }

  /**
   * UTS #46 ToASCII, simplified: ASCII is lowercased; other labels are
   * lowercased, NFKC-normalised and punycode-encoded ("xn--…").
   */
  function domainToASCII(domain) {
    let result;
    if (/^[\0-\x7f]*$/.test(domain)) {
      result = domain.toLowerCase();
    } else {
      const mapped = domain.toLowerCase().normalize("NFKC").replace(/[\u3002\uff0e\uff61]/g, ".");
      result = mapped
        .split(".")
        .map((label) => (/^[\0-\x7f]*$/.test(label) ? label : "xn--" + punycodeEncode(label)))
        .join(".");
    }
    return result === "" ? FAILURE : result;
  }

  /** RFC 3492 punycode encoding of one label. */
  function punycodeEncode(label) {
    const BASE = 36, T_MIN = 1, T_MAX = 26;
    const digit = (d) => String.fromCharCode(d < 26 ? 0x61 + d : 0x16 + d); // a-z, then 0-9
    const codePoints = Array.from(label, (ch) => ch.codePointAt(0));
    let output = codePoints.filter((cp) => cp < 0x80).map((cp) => String.fromCharCode(cp)).join("");
    const basicCount = output.length;
    if (basicCount > 0) output += "-";
    let n = 0x80, delta = 0, bias = 72, handled = basicCount;
    while (handled < codePoints.length) {
      const next = Math.min(...codePoints.filter((cp) => cp >= n));
      delta += (next - n) * (handled + 1);
      n = next;
      for (const cp of codePoints) {
        if (cp < n) delta++;
        if (cp !== n) continue;
        let q = delta;
        for (let k = BASE; ; k += BASE) {
          const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias;
          if (q < t) break;
          output += digit(t + ((q - t) % (BASE - t)));
          q = Math.floor((q - t) / (BASE - t));
        }
        output += digit(q);
        bias = punycodeAdapt(delta, handled + 1, handled === basicCount);
        delta = 0;
        handled++;
      }
      delta++;
      n++;
    }
    return output;
  }

  function punycodeAdapt(delta, pointCount, firstTime) {
    delta = firstTime ? Math.floor(delta / 700) : delta >> 1;
    delta += Math.floor(delta / pointCount);
    let k = 0;
    while (delta > 455) { // ((BASE - T_MIN) * T_MAX) / 2
      delta = Math.floor(delta / 35);
      k += 36;
    }
    return k + Math.floor((36 * delta) / (delta + 38));
  }

  /** Whether the last label is numeric, so the host must be an IPv4 address. */
  function endsInANumber(input) {
    const parts = input.split(".");
    if (parts.at(-1) === "") {
      if (parts.length === 1) return false;
      parts.pop();
    }
    const last = parts.at(-1);
    return /^[0-9]+$/.test(last) || parseIPv4Number(last) !== FAILURE;
  }

  /** Parses `127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1` … into a 32-bit number. */
  function parseIPv4(input) {
    const parts = input.split(".");
    if (parts.at(-1) === "" && parts.length > 1) parts.pop();
    if (parts.length > 4) return FAILURE;
    const numbers = parts.map(parseIPv4Number);
    if (numbers.includes(FAILURE)) return FAILURE;
    if (numbers.slice(0, -1).some((n) => n > 255)) return FAILURE;
    const last = numbers.at(-1);
    if (last >= 256 ** (5 - numbers.length)) return FAILURE;
    let address = last;
    numbers.slice(0, -1).forEach((n, i) => { address += n * 256 ** (3 - i); });
    return address;
  }

  function parseIPv4Number(input) {
    if (input === "") return FAILURE;
    let radix = 10;
    if (/^0[xX]/.test(input)) {
      input = input.slice(2);
      radix = 16;
    } else if (input.length > 1 && input[0] === "0") {
      input = input.slice(1);
      radix = 8;
    }
    if (input === "") return 0;
    const valid = radix === 10 ? /^[0-9]+$/ : radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-7]+$/;
    return valid.test(input) ? parseInt(input, radix) : FAILURE;
  }

  const serializeIPv4 = (address) =>
    [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join(".");

  /** The spec's IPv6 parser: eight 16-bit pieces, or FAILURE. */
  function parseIPv6(input) {
    const address = [0, 0, 0, 0, 0, 0, 0, 0];
    let pieceIndex = 0;
    let compress = null;
    let pointer = 0;
    const at = (i) => input[i];
    const isHex = (c) => c !== undefined && /[0-9a-fA-F]/.test(c);
    const isDigit = (c) => c !== undefined && c >= "0" && c <= "9";

    if (at(pointer) === ":") {
      if (at(pointer + 1) !== ":") return FAILURE;
      pointer += 2;
      compress = ++pieceIndex;
    }
    while (at(pointer) !== undefined) {
      if (pieceIndex === 8) return FAILURE;
      if (at(pointer) === ":") {
        if (compress !== null) return FAILURE;
        pointer++;
        compress = ++pieceIndex;
        continue;
      }
      let value = 0;
      let length = 0;
      while (length < 4 && isHex(at(pointer))) {
        value = value * 0x10 + parseInt(at(pointer), 16);
        pointer++;
        length++;
      }
      if (at(pointer) === ".") {
        // An embedded IPv4 address fills the last two pieces.
        if (length === 0) return FAILURE;
        pointer -= length;
        if (pieceIndex > 6) return FAILURE;
        let numbersSeen = 0;
        while (at(pointer) !== undefined) {
          let ipv4Piece = null;
          if (numbersSeen > 0) {
            if (at(pointer) === "." && numbersSeen < 4) pointer++;
            else return FAILURE;
          }
          if (!isDigit(at(pointer))) return FAILURE;
          while (isDigit(at(pointer))) {
            const number = Number(at(pointer));
            if (ipv4Piece === null) ipv4Piece = number;
            else if (ipv4Piece === 0) return FAILURE; // no leading zeros
            else ipv4Piece = ipv4Piece * 10 + number;
            if (ipv4Piece > 255) return FAILURE;
            pointer++;
          }
          address[pieceIndex] = address[pieceIndex] * 0x100 + ipv4Piece;
          numbersSeen++;
          if (numbersSeen === 2 || numbersSeen === 4) pieceIndex++;
        }
        if (numbersSeen !== 4) return FAILURE;
        break;
      } else if (at(pointer) === ":") {
        pointer++;
        if (at(pointer) === undefined) return FAILURE;
      } else if (at(pointer) !== undefined) {
        return FAILURE;
      }
      address[pieceIndex++] = value;
    }
    if (compress !== null) {
      // Move the pieces after "::" to the end.
      let swaps = pieceIndex - compress;
      pieceIndex = 7;
      while (pieceIndex !== 0 && swaps > 0) {
        const other = compress + swaps - 1;
        [address[pieceIndex], address[other]] = [address[other], address[pieceIndex]];
        pieceIndex--;
        swaps--;
      }
    } else if (pieceIndex !== 8) {
      return FAILURE;
    }
    return address;
  }

  /** Lowercase hex pieces, the first longest run of two or more zeros as "::". */
  function serializeIPv6(address) {
    let compress = null;
    let bestLength = 1;
    for (let i = 0; i < 8; ) {
      let end = i;
      while (end < 8 && address[end] === 0) end++;
      if (end - i > bestLength) {
        compress = i;
        bestLength = end - i;
      }
      i = end === i ? i + 1 : end;
    }
    let output = "";
    for (let i = 0; i < 8; i++) {
      if (i === compress) {
        output += i === 0 ? "::" : ":";
        i += bestLength - 1;
        continue;
      }
      output += address[i].toString(16);
      if (i !== 7) output += ":";
    }
    return output;
  }

  // ---------------------------------------------------------------------
  // URL records

  const DEFAULT_PORTS = { "ftp": 21, "file": null, "http": 80, "https": 443, "ws": 80, "wss": 443 };
  const isSpecialScheme = (scheme) => Object.hasOwn(DEFAULT_PORTS, scheme);
  const defaultPort = (scheme) => (isSpecialScheme(scheme) ? DEFAULT_PORTS[scheme] : null);

  function newURLRecord() {
    // `host` is kept serialized; `path` is a list of segments, or a string
    // for an opaque path (`mailto:x`, `data:…`).
    return { scheme: "", username: "", password: "", host: null, port: null, path: [], query: null, fragment: null };
  }

  const hasOpaquePath = (url) => typeof url.path === "string";
  const includesCredentials = (url) => url.username !== "" || url.password !== "";
  const cannotHaveCredentialsOrPort = (url) => url.host === null || url.host === "" || url.scheme === "file";

  const isWindowsDriveLetter = (s) => s.length === 2 && /^[A-Za-z][:|]$/.test(s);
  const isNormalizedWindowsDriveLetter = (s) => s !== undefined && /^[A-Za-z]:$/.test(s);
  const isSingleDot = (s) => s === "." || s.toLowerCase() === "%2e";
  const isDoubleDot = (s) => ["..", ".%2e", "%2e.", "%2e%2e"].includes(s.toLowerCase());

  /** Whether `codePoints` from `pointer` on start with a drive letter ("C:", "C|/…"). */
  function startsWithWindowsDriveLetter(codePoints, pointer) {
    const rest = codePoints.slice(pointer, pointer + 3);
    return rest.length >= 2 && isWindowsDriveLetter(rest[0] + rest[1]) &&
      (rest.length === 2 || "/\\?#".includes(rest[2]));
  }

  function shortenPath(url) {
    const path = url.path;
    if (url.scheme === "file" && path.length === 1 && isNormalizedWindowsDriveLetter(path[0])) return;
    path.pop();
  }

  function copyAuthority(url, base) {
    url.username = base.username;
    url.password = base.password;
    url.host = base.host;
    url.port = base.port;
  }

  // Returned by a state to stop the machine: FAILURE, or DONE when a setter's
  // state override has done its part.
  const DONE = Symbol("done");

  /**
   * The basic URL parser. Returns the URL record, or FAILURE. With `url` and
   * `stateOverride` it modifies `url` in place (the setters).
   */
  function basicParse(input, base = null, url = null, stateOverride = null) {
    if (url === null) {
      url = newURLRecord();
      input = input.replace(/^[\0-\x20]+|[\0-\x20]+$/g, "");
    }
    input = input.replace(/[\t\n\r]/g, "");
    const machine = new URLStateMachine(input, base, url, stateOverride);
    return machine.run() === FAILURE ? FAILURE : url;
  }

  class URLStateMachine {
    constructor(input, base, url, stateOverride) {
      this.input = Array.from(input); // code points; `undefined` past the end is EOF
      this.base = base;
      this.url = url;
      this.stateOverride = stateOverride;
      this.state = stateOverride ?? "schemeStart";
      this.buffer = "";
      this.atSignSeen = false;
      this.insideBrackets = false;
      this.passwordTokenSeen = false;
      this.pointer = 0;
    }

    run() {
      for (; this.pointer <= this.input.length; this.pointer++) {
        const result = this[this.state](this.input[this.pointer]);
        if (result === FAILURE || result === DONE) return result;
      }
      return DONE;
    }

    get special() {
      return isSpecialScheme(this.url.scheme);
    }

    next() {
      return this.input[this.pointer + 1];
    }

    /** EOF, "/", "?", "#", or "\" in a special URL: the end of the authority. */
    endsAuthority(c) {
      return c === undefined || c === "/" || c === "?" || c === "#" || (this.special && c === "\\");
    }

    startQuery() {
      this.url.query = "";
      this.state = "query";
    }

    startFragment() {
      this.url.fragment = "";
      this.state = "fragment";
    }

    /** Reprocess the current code point in `state`. */
    goBack(state) {
      this.state = state;
      this.pointer--;
    }

    schemeStart(c) {
      if (c !== undefined && /[A-Za-z]/.test(c)) {
        this.buffer += c.toLowerCase();
        this.state = "scheme";
      } else if (!this.stateOverride) {
        this.goBack("noScheme");
      } else {
        return FAILURE;
      }
    }

    scheme(c) {
      if (c !== undefined && /[A-Za-z0-9+\-.]/.test(c)) {
        this.buffer += c.toLowerCase();
      } else if (c === ":") {
        return this.endScheme();
      } else if (!this.stateOverride) {
        // Not a scheme after all: start over without one.
        this.buffer = "";
        this.state = "noScheme";
        this.pointer = -1;
      } else {
        return FAILURE;
      }
    }

    endScheme() {
      const url = this.url;
      const scheme = this.buffer;
      if (this.stateOverride) {
        // The protocol setter cannot switch between special and non-special
        // schemes, nor make a URL with credentials, a port or no host "file".
        if (isSpecialScheme(url.scheme) !== isSpecialScheme(scheme)) return DONE;
        if ((includesCredentials(url) || url.port !== null) && scheme === "file") return DONE;
        if (url.scheme === "file" && url.host === "") return DONE;
      }
      url.scheme = scheme;
      if (this.stateOverride) {
        if (url.port === defaultPort(scheme)) url.port = null;
        return DONE;
      }
      this.buffer = "";
      if (scheme === "file") {
        this.state = "file";
      } else if (this.special && this.base?.scheme === scheme) {
        this.state = "specialRelativeOrAuthority";
      } else if (this.special) {
        this.state = "specialAuthoritySlashes";
      } else if (this.next() === "/") {
        this.state = "pathOrAuthority";
        this.pointer++;
      } else {
        url.path = "";
        this.state = "opaquePath";
      }
    }

    noScheme(c) {
      const base = this.base;
      if (base === null || (hasOpaquePath(base) && c !== "#")) return FAILURE;
      if (hasOpaquePath(base)) {
        Object.assign(this.url, { scheme: base.scheme, path: base.path, query: base.query });
        this.startFragment();
      } else {
        this.goBack(base.scheme === "file" ? "file" : "relative");
      }
    }

    specialRelativeOrAuthority(c) {
      if (c === "/" && this.next() === "/") {
        this.state = "specialAuthorityIgnoreSlashes";
        this.pointer++;
      } else {
        this.goBack("relative");
      }
    }

    pathOrAuthority(c) {
      if (c === "/") this.state = "authority";
      else this.goBack("path");
    }

    relative(c) {
      const url = this.url;
      const base = this.base;
      url.scheme = base.scheme;
      if (c === "/" || (this.special && c === "\\")) {
        this.state = "relativeSlash";
        return;
      }
      copyAuthority(url, base);
      url.path = base.path.slice();
      url.query = base.query;
      if (c === "?") {
        this.startQuery();
      } else if (c === "#") {
        this.startFragment();
      } else if (c !== undefined) {
        url.query = null;
        shortenPath(url);
        this.goBack("path");
      }
    }

    relativeSlash(c) {
      if (this.special && (c === "/" || c === "\\")) {
        this.state = "specialAuthorityIgnoreSlashes";
      } else if (c === "/") {
        this.state = "authority";
      } else {
        copyAuthority(this.url, this.base);
        this.goBack("path");
      }
    }

    specialAuthoritySlashes(c) {
      if (c === "/" && this.next() === "/") {
        this.state = "specialAuthorityIgnoreSlashes";
        this.pointer++;
      } else {
        this.goBack("specialAuthorityIgnoreSlashes");
      }
    }

    specialAuthorityIgnoreSlashes(c) {
      if (c !== "/" && c !== "\\") this.goBack("authority");
    }

    authority(c) {
      if (c === "@") {
        // Everything before the last "@" is userinfo.
        if (this.atSignSeen) this.buffer = "%40" + this.buffer;
        this.atSignSeen = true;
        for (const ch of this.buffer) {
          if (ch === ":" && !this.passwordTokenSeen) {
            this.passwordTokenSeen = true;
            continue;
          }
          const encoded = percentEncode(ch, USERINFO_SET);
          if (this.passwordTokenSeen) this.url.password += encoded;
          else this.url.username += encoded;
        }
        this.buffer = "";
      } else if (this.endsAuthority(c)) {
        if (this.atSignSeen && this.buffer === "") return FAILURE;
        // Re-read the buffer as the host.
        this.pointer -= Array.from(this.buffer).length + 1;
        this.buffer = "";
        this.state = "host";
      } else {
        this.buffer += c;
      }
    }

    // Also the "hostname" state: they differ only under a state override.
    host(c) {
      const url = this.url;
      if (this.stateOverride && url.scheme === "file") {
        this.goBack("fileHost");
      } else if (c === ":" && !this.insideBrackets) {
        if (this.buffer === "") return FAILURE;
        if (this.stateOverride === "hostname") return FAILURE;
        const host = parseHost(this.buffer, !this.special);
        if (host === FAILURE) return FAILURE;
        url.host = host;
        this.buffer = "";
        this.state = "port";
      } else if (this.endsAuthority(c)) {
        this.pointer--;
        if (this.special && this.buffer === "") return FAILURE;
        if (this.stateOverride && this.buffer === "" && (includesCredentials(url) || url.port !== null)) {
          return FAILURE;
        }
        const host = parseHost(this.buffer, !this.special);
        if (host === FAILURE) return FAILURE;
        url.host = host;
        this.buffer = "";
        this.state = "pathStart";
        if (this.stateOverride) return DONE;
      } else {
        if (c === "[") this.insideBrackets = true;
        if (c === "]") this.insideBrackets = false;
        this.buffer += c;
      }
    }

    hostname(c) {
      return this.host(c);
    }

    port(c) {
      if (c !== undefined && c >= "0" && c <= "9") {
        this.buffer += c;
      } else if (this.endsAuthority(c) || this.stateOverride) {
        if (this.buffer !== "") {
          const port = parseInt(this.buffer, 10);
          if (port > 65535) return FAILURE;
          this.url.port = port === defaultPort(this.url.scheme) ? null : port;
          this.buffer = "";
          if (this.stateOverride) return DONE;
        }
        if (this.stateOverride) return FAILURE;
        this.goBack("pathStart");
      } else {
        return FAILURE;
      }
    }

    file(c) {
      const url = this.url;
      const base = this.base;
      url.scheme = "file";
      url.host = "";
      if (c === "/" || c === "\\") {
        this.state = "fileSlash";
      } else if (base?.scheme === "file") {
        url.host = base.host;
        url.path = base.path.slice();
        url.query = base.query;
        if (c === "?") {
          this.startQuery();
        } else if (c === "#") {
          this.startFragment();
        } else if (c !== undefined) {
          url.query = null;
          if (!startsWithWindowsDriveLetter(this.input, this.pointer)) shortenPath(url);
          else url.path = [];
          this.goBack("path");
        }
      } else {
        this.goBack("path");
      }
    }

    fileSlash(c) {
      if (c === "/" || c === "\\") {
        this.state = "fileHost";
        return;
      }
      const base = this.base;
      if (base?.scheme === "file") {
        this.url.host = base.host;
        if (!startsWithWindowsDriveLetter(this.input, this.pointer) && isNormalizedWindowsDriveLetter(base.path[0])) {
          this.url.path.push(base.path[0]);
        }
      }
      this.goBack("path");
    }

    fileHost(c) {
      if (!(c === undefined || "/\\?#".includes(c))) {
        this.buffer += c;
        return;
      }
      this.pointer--;
      if (!this.stateOverride && isWindowsDriveLetter(this.buffer)) {
        // "file://C:/x": the drive letter is the first path segment, not a host.
        this.state = "path";
      } else if (this.buffer === "") {
        this.url.host = "";
        if (this.stateOverride) return DONE;
        this.state = "pathStart";
      } else {
        let host = parseHost(this.buffer, !this.special);
        if (host === FAILURE) return FAILURE;
        if (host === "localhost") host = "";
        this.url.host = host;
        if (this.stateOverride) return DONE;
        this.buffer = "";
        this.state = "pathStart";
      }
    }

    pathStart(c) {
      if (this.special) {
        this.state = "path";
        if (c !== "/" && c !== "\\") this.pointer--;
      } else if (!this.stateOverride && c === "?") {
        this.startQuery();
      } else if (!this.stateOverride && c === "#") {
        this.startFragment();
      } else if (c !== undefined) {
        this.state = "path";
        if (c !== "/") this.pointer--;
      } else if (this.stateOverride && this.url.host === null) {
        this.url.path.push("");
      }
    }

    path(c) {
      const url = this.url;
      const slash = c === "/" || (this.special && c === "\\");
      if (!(c === undefined || slash || (!this.stateOverride && (c === "?" || c === "#")))) {
        this.buffer += percentEncode(c, PATH_SET);
        return;
      }
      // A segment is complete: resolve "." and "..".
      let segment = this.buffer;
      if (isDoubleDot(segment)) {
        shortenPath(url);
        if (!slash) url.path.push("");
      } else if (isSingleDot(segment)) {
        if (!slash) url.path.push("");
      } else {
        if (url.scheme === "file" && url.path.length === 0 && isWindowsDriveLetter(segment)) {
          segment = segment[0] + ":";
        }
        url.path.push(segment);
      }
      this.buffer = "";
      if (c === "?") this.startQuery();
      if (c === "#") this.startFragment();
    }

    opaquePath(c) {
      if (c === "?") this.startQuery();
      else if (c === "#") this.startFragment();
      else if (c !== undefined) this.url.path += percentEncode(c, C0_CONTROL_SET);
    }

    query(c) {
      if (c === undefined || (!this.stateOverride && c === "#")) {
        const set = this.special ? SPECIAL_QUERY_SET : QUERY_SET;
        this.url.query += percentEncodeString(this.buffer, set);
        this.buffer = "";
        if (c === "#") this.startFragment();
      } else {
        this.buffer += c;
      }
    }

    fragment(c) {
      if (c !== undefined) this.url.fragment += percentEncode(c, FRAGMENT_SET);
    }
  }

  function serializePath(url) {
    return hasOpaquePath(url) ? url.path : url.path.map((segment) => "/" + segment).join("");
  }

  function serializeURL(url, excludeFragment = false) {
    let output = url.scheme + ":";
    if (url.host !== null) {
      output += "//";
      if (includesCredentials(url)) {
        output += url.username;
        if (url.password !== "") output += ":" + url.password;
        output += "@";
      }
      output += url.host;
      if (url.port !== null) output += ":" + url.port;
    } else if (!hasOpaquePath(url) && url.path.length > 1 && url.path[0] === "") {
      // Keeps "web+demo:/.//not-a-host/" from reparsing with a host.
      output += "/.";
    }
    output += serializePath(url);
    if (url.query !== null) output += "?" + url.query;
    if (!excludeFragment && url.fragment !== null) output += "#" + url.fragment;
    return output;
  }

  function serializeOrigin(url) {
    switch (url.scheme) {
      case "blob": {
        // The origin of the URL inside, when that is http(s).
        const inner = basicParse(serializePath(url));
        return inner !== FAILURE && (inner.scheme === "http" || inner.scheme === "https")
          ? serializeOrigin(inner)
          : "null";
      }
      case "ftp":
      case "http":
      case "https":
      case "ws":
      case "wss":
        return `${url.scheme}://${url.host}${url.port === null ? "" : ":" + url.port}`;
      default:
        return "null"; // an opaque origin (file:, data:, mailto: …)
    }
  }

  /** The setters' "potentially strip trailing spaces from an opaque path". */
  function stripTrailingSpacesFromOpaquePath(url) {
    if (!hasOpaquePath(url) || url.fragment !== null || url.query !== null) return;
    url.path = url.path.replace(/ +$/, "");
  }

  // ---------------------------------------------------------------------
  // URLSearchParams

  // Ties a URLSearchParams to the URL record it mirrors, re-reading its list
  // from the record's query. Set in URLSearchParams' static block.
  let bindSearchParams;

  class URLSearchParams {
    #list = [];
    #url = null; // the URL record whose query this object mirrors, if any

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
      if (query === "") stripTrailingSpacesFromOpaquePath(this.#url);
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

  function parseOrFailure(url, base) {
    let parsedBase = null;
    if (base !== undefined) {
      parsedBase = basicParse(toUSV(base));
      if (parsedBase === FAILURE) return FAILURE;
    }
    return basicParse(toUSV(url), parsedBase);
  }

  function invalidURL(url, base) {
    const where = base === undefined ? "" : ` (base ${JSON.stringify(String(base))})`;
    return new TypeError(`Invalid URL: ${JSON.stringify(String(url))}${where}`);
  }

  class URL {
    #url;
    #searchParams = new URLSearchParams();

    constructor(url, base = undefined) {
      const record = parseOrFailure(url, base);
      if (record === FAILURE) throw invalidURL(url, base);
      this.#url = record;
      bindSearchParams(this.#searchParams, record);
    }

    static canParse(url, base = undefined) {
      return parseOrFailure(url, base) !== FAILURE;
    }

    static parse(url, base = undefined) {
      return URL.canParse(url, base) ? new URL(url, base) : null;
    }

    /** Runs the state machine over `input` from `state`, changing this URL in place. */
    #override(input, state) {
      basicParse(toUSV(input), null, this.#url, state);
    }

    get href() {
      return serializeURL(this.#url);
    }

    set href(value) {
      const record = basicParse(toUSV(value));
      if (record === FAILURE) throw invalidURL(value);
      // Same object, so searchParams stays bound to it.
      Object.assign(this.#url, record);
      bindSearchParams(this.#searchParams, this.#url);
    }

    get origin() {
      return serializeOrigin(this.#url);
    }

    get protocol() {
      return this.#url.scheme + ":";
    }

    set protocol(value) {
      this.#override(toUSV(value) + ":", "schemeStart");
    }

    get username() {
      return this.#url.username;
    }

    set username(value) {
      if (cannotHaveCredentialsOrPort(this.#url)) return;
      this.#url.username = percentEncodeString(toUSV(value), USERINFO_SET);
    }

    get password() {
      return this.#url.password;
    }

    set password(value) {
      if (cannotHaveCredentialsOrPort(this.#url)) return;
      this.#url.password = percentEncodeString(toUSV(value), USERINFO_SET);
    }

    get host() {
      const { host, port } = this.#url;
      if (host === null) return "";
      return port === null ? host : `${host}:${port}`;
    }

    set host(value) {
      if (hasOpaquePath(this.#url)) return;
      this.#override(value, "host");
    }

    get hostname() {
      return this.#url.host ?? "";
    }

    set hostname(value) {
      if (hasOpaquePath(this.#url)) return;
      this.#override(value, "hostname");
    }

    get port() {
      return this.#url.port === null ? "" : String(this.#url.port);
    }

    set port(value) {
      if (cannotHaveCredentialsOrPort(this.#url)) return;
      value = toUSV(value);
      if (value === "") this.#url.port = null;
      else this.#override(value, "port");
    }

    get pathname() {
      return serializePath(this.#url);
    }

    set pathname(value) {
      if (hasOpaquePath(this.#url)) return;
      this.#url.path = [];
      this.#override(value, "pathStart");
    }

    get search() {
      const query = this.#url.query;
      return query === null || query === "" ? "" : "?" + query;
    }

    set search(value) {
      const url = this.#url;
      value = toUSV(value);
      if (value === "") {
        url.query = null;
        stripTrailingSpacesFromOpaquePath(url);
      } else {
        url.query = "";
        this.#override(value.startsWith("?") ? value.slice(1) : value, "query");
      }
      bindSearchParams(this.#searchParams, url);
    }

    get searchParams() {
      return this.#searchParams;
    }

    get hash() {
      const fragment = this.#url.fragment;
      return fragment === null || fragment === "" ? "" : "#" + fragment;
    }

    set hash(value) {
      const url = this.#url;
      value = toUSV(value);
      if (value === "") {
        url.fragment = null;
        stripTrailingSpacesFromOpaquePath(url);
        return;
      }
      url.fragment = "";
      this.#override(value.startsWith("#") ? value.slice(1) : value, "fragment");
    }

    toString() {
      return this.href;
    }

    toJSON() {
      return this.href;
    }
  }

  exposeClass(URL);
  exposeClass(URLSearchParams);
})();
