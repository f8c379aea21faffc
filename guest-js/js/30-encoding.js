// 30-encoding.js — TextEncoder and TextDecoder (WHATWG Encoding), UTF-8 only.
// The host does the bulk conversion; this file handles the BOM, `encodeInto`
// and streaming (a character split across chunks).
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const { exposeClass } = globalThis.__pbsInternal;

  const UTF8_LABELS = new Set(["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"]);

  /** A BufferSource as a Uint8Array over the same memory. */
  function bytesOf(input) {
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError("TextDecoder.decode: the input must be an ArrayBuffer or an ArrayBufferView");
  }

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }

    encode(input = "") {
      return pbs.utf8Encode(String(input));
    }

    /**
     * Encodes as many whole characters of `source` as fit in `destination`.
     * Done here, not by the host, because it must stop at a character boundary
     * and report how many UTF-16 code units it read.
     */
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("TextEncoder.encodeInto: the destination must be a Uint8Array");
      const text = String(source);
      let read = 0;
      let written = 0;
      while (read < text.length) {
        let code = text.codePointAt(read);
        const units = code > 0xffff ? 2 : 1;
        if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate
        const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
        if (written + size > destination.length) break;
        writeUtf8(destination, written, code, size);
        read += units;
        written += size;
      }
      return { read, written };
    }
  }
  exposeClass(TextEncoder);

  function writeUtf8(bytes, at, code, size) {
    if (size === 1) {
      bytes[at] = code;
      return;
    }
    const lead = [0, 0, 0xc0, 0xe0, 0xf0][size];
    for (let i = size - 1; i > 0; i--) {
      bytes[at + i] = 0x80 | (code & 0x3f);
      code >>= 6;
    }
    bytes[at] = lead | code;
  }

  /**
   * How many bytes at the end of `bytes` begin a multi-byte character that is
   * not complete yet; 0 if the end is complete, or invalid in a way more bytes
   * cannot fix (then the decoder reports it now rather than one chunk later).
   */
  function incompleteTail(bytes) {
    const end = bytes.length;
    for (let back = 1; back <= 3 && back <= end; back++) {
      const byte = bytes[end - back];
      if (byte >= 0x80 && byte <= 0xbf) continue; // continuation byte: look further back
      const size = byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 1;
      if (size <= back) return 0;
      return back === 1 || validSecondByte(byte, bytes[end - back + 1]) ? back : 0;
    }
    return 0;
  }

  /** The second byte's range depends on the first (no overlongs, no surrogates, ≤ U+10FFFF). */
  function validSecondByte(lead, second) {
    if (lead === 0xe0) return second >= 0xa0;
    if (lead === 0xed) return second <= 0x9f;
    if (lead === 0xf0) return second >= 0x90;
    if (lead === 0xf4) return second <= 0x8f;
    return true;
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #pending = new Uint8Array(0); // the incomplete character kept from the last streaming call
    #bomSeen = false; // whether the start of the stream has been decoded
    #streaming = false; // whether the last call had {stream: true}

    constructor(label = "utf-8", options = undefined) {
      // Only ASCII whitespace is trimmed ("\v" or U+00A0 make a label invalid).
      const name = String(label).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase();
      if (!UTF8_LABELS.has(name)) throw new RangeError(`TextDecoder: the encoding "${label}" is not supported (only UTF-8 is)`);
      this.#fatal = Boolean(options?.fatal);
      this.#ignoreBOM = Boolean(options?.ignoreBOM);
    }

    get encoding() {
      return "utf-8";
    }

    get fatal() {
      return this.#fatal;
    }

    get ignoreBOM() {
      return this.#ignoreBOM;
    }

    decode(input = undefined, options = undefined) {
      const chunk = input === undefined ? new Uint8Array(0) : bytesOf(input);
      if (!this.#streaming) {
        // A call after a non-streaming one starts a new stream.
        this.#pending = new Uint8Array(0);
        this.#bomSeen = false;
      }
      this.#streaming = Boolean(options?.stream);

      let bytes = chunk;
      if (this.#pending.length > 0) {
        bytes = new Uint8Array(this.#pending.length + chunk.length);
        bytes.set(this.#pending);
        bytes.set(chunk, this.#pending.length);
      }
      const keep = this.#streaming ? incompleteTail(bytes) : 0;
      this.#pending = bytes.slice(bytes.length - keep);
      let text = pbs.utf8Decode(bytes.subarray(0, bytes.length - keep), this.#fatal);

      if (!this.#bomSeen && text.length > 0) {
        this.#bomSeen = true;
        if (!this.#ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      return text;
    }
  }
  exposeClass(TextDecoder);
})();
