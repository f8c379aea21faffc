// 36-compression.js — Compression Streams (https://compression.spec.whatwg.org/):
// `CompressionStream` and `DecompressionStream` for "gzip", "deflate" (zlib)
// and "deflate-raw". The codec is native (`__pbs.zlib`, flate2 on
// miniz_oxide, guest-js/src/bridge/compress.rs); this file is the
// TransformStream around it.
(() => {
  "use strict";

  const zlib = globalThis.__pbs.zlib;
  const { exposeClass } = globalThis.__pbsInternal;
  const { TransformStream } = globalThis;

  const FORMATS = ["gzip", "deflate", "deflate-raw"];

  function chunkBytes(chunk) {
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    throw new TypeError("A chunk must be an ArrayBuffer or an ArrayBufferView");
  }

  /** The TransformStream of one codec; `decompress` picks the direction. */
  function codecStream(format, decompress, what) {
    if (format === undefined) throw new TypeError(`${what}: a format is required`);
    const name = String(format);
    if (!FORMATS.includes(name)) {
      throw new TypeError(`${what}: unsupported format ${JSON.stringify(name)} (gzip, deflate or deflate-raw)`);
    }
    // Opened on the first chunk (or at the end), so that a stream made while
    // the module is evaluated at build time holds no native state.
    let id = 0;
    const open = () => (id === 0 ? (id = zlib.open(name, decompress)) : id);
    return new TransformStream({
      transform(chunk, controller) {
        const bytes = chunkBytes(chunk);
        const out = zlib.push(open(), bytes);
        if (out.length > 0) controller.enqueue(out);
      },
      flush(controller) {
        const out = zlib.finish(open());
        id = -1;
        if (out.length > 0) controller.enqueue(out);
      },
      cancel() {
        if (id > 0) zlib.drop(id);
        id = -1;
      },
    });
  }

  class CompressionStream {
    #transform;

    constructor(format) {
      this.#transform = codecStream(format, false, "CompressionStream");
    }

    get readable() {
      return this.#transform.readable;
    }

    get writable() {
      return this.#transform.writable;
    }
  }

  class DecompressionStream {
    #transform;

    constructor(format) {
      this.#transform = codecStream(format, true, "DecompressionStream");
    }

    get readable() {
      return this.#transform.readable;
    }

    get writable() {
      return this.#transform.writable;
    }
  }

  exposeClass(CompressionStream);
  exposeClass(DecompressionStream);
})();
