// 45-crypto.js — Web Cryptography API: `crypto` (a `Crypto`), `crypto.subtle`
// (a `SubtleCrypto`) and `CryptoKey`, to W3C Web Cryptography (Level 2 draft,
// with Ed25519/X25519 of "Secure Curves").
//
// This file does what the specification asks of the API: normalising
// algorithm dictionaries, checking usages and formats, JWK members, key
// objects and the DOMException names. The arithmetic is native
// (`__pbs.crypto`, guest-js/src/bridge/crypto.rs, RustCrypto's crates): keys
// cross as their raw bytes (secret keys), PKCS #8 (private) or SPKI (public).
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const native = pbs.crypto;
  const { expose, exposeClass } = globalThis.__pbsInternal;
  const { getRandomValues, randomUUID } = globalThis.crypto;

  const dataError = (m) => new DOMException(m, "DataError");
  const syntaxError = (m) => new DOMException(m, "SyntaxError");
  const notSupported = (m) => new DOMException(m, "NotSupportedError");
  const invalidAccess = (m) => new DOMException(m, "InvalidAccessError");
  const operationError = (m) => new DOMException(m, "OperationError");

  /** Runs a native call, turning its error into a DOMException named `name`. */
  function call(name, f) {
    try {
      return f();
    } catch (err) {
      if (err instanceof DOMException || err instanceof TypeError) throw err;
      throw new DOMException(err && err.message ? err.message : String(err), name);
    }
  }

  // ---------------------------------------------------------------------------
  // WebIDL conversions

  /** A copy of a BufferSource's bytes (the spec copies at the call). */
  function bufferSource(value, what) {
    if (ArrayBuffer.isView(value)) {
      return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
    }
    if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
    throw new TypeError(`${what} is not an ArrayBuffer or an ArrayBufferView`);
  }

  /** `[EnforceRange]` integer conversion of WebIDL. */
  function enforceRange(value, max, what) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new TypeError(`${what} is not a finite number`);
    const i = Math.trunc(n);
    if (i < 0 || i > max) throw new TypeError(`${what} is outside the range 0..${max}`);
    return i;
  }

  function toBuffer(bytes) {
    return bytes.buffer.byteLength === bytes.byteLength ? bytes.buffer : bytes.slice().buffer;
  }

  // ---------------------------------------------------------------------------
  // Algorithm normalisation ("normalize an algorithm", WebCrypto §18.4)

  const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];

  // Member types of the parameter dictionaries.
  const T = {
    buffer: (v, what) => bufferSource(v, what),
    octet: (v, what) => enforceRange(v, 0xff, what),
    ushort: (v, what) => enforceRange(v, 0xffff, what),
    ulong: (v, what) => enforceRange(v, 0xffffffff, what),
    bigint: (v, what) => {
      if (!ArrayBuffer.isView(v) || Object.prototype.toString.call(v) !== "[object Uint8Array]") {
        throw new TypeError(`${what} is not a Uint8Array`);
      }
      return new Uint8Array(v);
    },
    string: (v) => String(v),
    hash: (v) => normalize("digest", v),
    key: (v, what) => {
      if (!(v instanceof CryptoKey)) throw new TypeError(`${what} is not a CryptoKey`);
      return v;
    },
  };

  // Dictionaries: member -> [type, required].
  const D = {
    none: {},
    aesCbc: { iv: [T.buffer, true] },
    aesCtr: { counter: [T.buffer, true], length: [T.octet, true] },
    aesGcm: { iv: [T.buffer, true], additionalData: [T.buffer, false], tagLength: [T.octet, false] },
    aesLength: { length: [T.ushort, true] },
    hmac: { hash: [T.hash, true], length: [T.ulong, false] },
    pbkdf2: { salt: [T.buffer, true], iterations: [T.ulong, true], hash: [T.hash, true] },
    hkdf: { hash: [T.hash, true], salt: [T.buffer, true], info: [T.buffer, true] },
    ec: { namedCurve: [T.string, true] },
    ecdsa: { hash: [T.hash, true] },
    ecdh: { public: [T.key, true] },
    rsaGen: { modulusLength: [T.ulong, true], publicExponent: [T.bigint, true], hash: [T.hash, true] },
    rsaImport: { hash: [T.hash, true] },
    rsaPss: { saltLength: [T.ulong, true] },
    rsaOaep: { label: [T.buffer, false] },
  };

  const RSA = ["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP"];
  const AES = ["AES-CTR", "AES-CBC", "AES-GCM", "AES-KW"];

  // The registered algorithms of each operation, with their dictionary.
  const OPS = {
    digest: Object.fromEntries(HASHES.map((h) => [h, D.none])),
    encrypt: { "RSA-OAEP": D.rsaOaep, "AES-CTR": D.aesCtr, "AES-CBC": D.aesCbc, "AES-GCM": D.aesGcm },
    sign: { "RSASSA-PKCS1-v1_5": D.none, "RSA-PSS": D.rsaPss, ECDSA: D.ecdsa, HMAC: D.none, Ed25519: D.none },
    generateKey: {
      ...Object.fromEntries(RSA.map((n) => [n, D.rsaGen])),
      ECDSA: D.ec,
      ECDH: D.ec,
      ...Object.fromEntries(AES.map((n) => [n, D.aesLength])),
      HMAC: D.hmac,
      Ed25519: D.none,
      X25519: D.none,
    },
    importKey: {
      ...Object.fromEntries(RSA.map((n) => [n, D.rsaImport])),
      ECDSA: D.ec,
      ECDH: D.ec,
      ...Object.fromEntries(AES.map((n) => [n, D.none])),
      HMAC: D.hmac,
      PBKDF2: D.none,
      HKDF: D.none,
      Ed25519: D.none,
      X25519: D.none,
    },
    deriveBits: { ECDH: D.ecdh, X25519: D.ecdh, HKDF: D.hkdf, PBKDF2: D.pbkdf2 },
    getKeyLength: {
      ...Object.fromEntries(AES.map((n) => [n, D.aesLength])),
      HMAC: D.hmac,
      HKDF: D.none,
      PBKDF2: D.none,
    },
    wrapKey: { "AES-KW": D.none },
  };
  OPS.decrypt = OPS.encrypt;
  OPS.verify = OPS.sign;
  OPS.unwrapKey = OPS.wrapKey;

  const CANONICAL = new Map();
  for (const table of Object.values(OPS)) for (const name of Object.keys(table)) CANONICAL.set(name.toUpperCase(), name);

  /** The normalised algorithm dictionary for `op`, or a NotSupportedError. */
  function normalize(op, algorithm) {
    if (typeof algorithm === "string") return normalize(op, { name: algorithm });
    if (algorithm === null || typeof algorithm !== "object") {
      throw new TypeError("An algorithm must be a string or an object with a name");
    }
    if (algorithm.name === undefined) throw new TypeError("The algorithm has no name");
    const name = CANONICAL.get(String(algorithm.name).toUpperCase());
    const dictionary = name === undefined ? undefined : OPS[op][name];
    if (dictionary === undefined) {
      throw notSupported(`Unrecognized algorithm name ${JSON.stringify(String(algorithm.name))} for ${op}`);
    }
    const result = { name };
    // Members are read in lexicographic order, as WebIDL converts dictionaries.
    for (const member of Object.keys(dictionary).sort()) {
      const [convert, required] = dictionary[member];
      const value = algorithm[member];
      if (value === undefined) {
        if (required) throw new TypeError(`${name}: the member "${member}" is required`);
        continue;
      }
      result[member] = convert(value, `${name}.${member}`);
    }
    return result;
  }

  // ---------------------------------------------------------------------------
  // CryptoKey

  const keys = new WeakMap(); // CryptoKey -> {type, extractable, algorithm, usages, data, kind}
  const USAGE_ORDER = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
  let constructing = false;

  class CryptoKey {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
    }
    get type() {
      return slots(this).type;
    }
    get extractable() {
      return slots(this).extractable;
    }
    get algorithm() {
      return slots(this).algorithmObject;
    }
    get usages() {
      return slots(this).usagesObject;
    }
  }

  function slots(key) {
    const s = keys.get(key);
    if (s === undefined) throw new TypeError("Illegal invocation: not a CryptoKey");
    return s;
  }

  function makeKey(type, extractable, algorithm, usages, data, kind) {
    constructing = true;
    let key;
    try {
      key = new CryptoKey();
    } finally {
      constructing = false;
    }
    const ordered = USAGE_ORDER.filter((u) => usages.includes(u));
    keys.set(key, {
      type,
      extractable,
      algorithm,
      usages: ordered,
      data,
      kind,
      algorithmObject: cloneAlgorithm(algorithm),
      usagesObject: ordered.slice(),
    });
    return key;
  }

  function cloneAlgorithm(a) {
    const copy = { ...a };
    if (a.hash) copy.hash = { name: a.hash.name };
    if (a.publicExponent) copy.publicExponent = a.publicExponent.slice();
    return copy;
  }

  function checkUsages(usages) {
    if (!Array.isArray(usages) && (usages === null || typeof usages !== "object" || !(Symbol.iterator in usages))) {
      throw new TypeError("keyUsages must be a sequence");
    }
    const list = [...usages].map(String);
    for (const u of list) {
      if (!USAGE_ORDER.includes(u)) throw new TypeError(`"${u}" is not a valid KeyUsage`);
    }
    return [...new Set(list)];
  }

  /** SyntaxError when a usage is not one of `allowed`. */
  function allowOnly(usages, allowed, what) {
    for (const u of usages) {
      if (!allowed.includes(u)) throw syntaxError(`"${u}" is not a valid usage for ${what}`);
    }
  }

  // ---------------------------------------------------------------------------
  // base64url and JWK helpers

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

  function base64url(bytes) {
    let s = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      s += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
    }
    if (i < bytes.length) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
      s += B64[n >> 18] + B64[(n >> 12) & 63];
      if (i + 1 < bytes.length) s += B64[(n >> 6) & 63];
    }
    return s;
  }

  function fromBase64url(text, member) {
    if (typeof text !== "string") throw dataError(`The JWK member "${member}" is not a string`);
    const s = text.replace(/=+$/, "");
    if (s.length % 4 === 1) throw dataError(`The JWK member "${member}" is not base64url`);
    const out = new Uint8Array(Math.floor((s.length * 3) / 4));
    let bits = 0;
    let value = 0;
    let o = 0;
    for (const c of s) {
      const v = B64_INDEX.get(c);
      if (v === undefined) throw dataError(`The JWK member "${member}" is not base64url`);
      value = (value << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (value >> bits) & 0xff;
      }
    }
    return out;
  }

  /** The checks every JWK import makes (kty, use, key_ops, ext). */
  function checkJwk(jwk, kty, usages, extractable, use) {
    if (jwk === null || typeof jwk !== "object") throw new TypeError("A JWK must be an object");
    if (jwk.kty !== kty) throw dataError(`The JWK "kty" must be "${kty}"`);
    if (usages.length > 0 && jwk.use !== undefined && jwk.use !== use) {
      throw dataError(`The JWK "use" must be "${use}"`);
    }
    if (jwk.key_ops !== undefined) {
      if (!Array.isArray(jwk.key_ops)) throw dataError('The JWK "key_ops" is not an array');
      const ops = jwk.key_ops.map(String);
      if (new Set(ops).size !== ops.length) throw dataError('The JWK "key_ops" repeats a value');
      for (const u of usages) {
        if (!ops.includes(u)) throw dataError(`The JWK "key_ops" does not allow "${u}"`);
      }
    }
    if (jwk.ext === false && extractable) throw dataError("The JWK is not extractable");
  }

  function jwkOf(key, members) {
    const s = slots(key);
    return { ...members, key_ops: s.usages.slice(), ext: s.extractable };
  }

  // ---------------------------------------------------------------------------
  // The algorithms

  const HASH_BLOCK_BITS = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
  const HASH_BITS = { "SHA-1": 160, "SHA-256": 256, "SHA-384": 384, "SHA-512": 512 };
  const CURVES = ["P-256", "P-384"];
  const CURVE_BYTES = { "P-256": 32, "P-384": 48, "P-521": 66 };
  const ECDSA_JWK_ALG = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };

  function checkCurve(namedCurve) {
    if (CURVES.includes(namedCurve)) return;
    if (namedCurve === "P-521") throw notSupported("P-521 is not supported by this engine");
    throw notSupported(`Unrecognized namedCurve ${JSON.stringify(namedCurve)}`);
  }

  // -- AES ----------------------------------------------------------------------

  const AES_USAGES = {
    "AES-CTR": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    "AES-CBC": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    "AES-GCM": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    "AES-KW": ["wrapKey", "unwrapKey"],
  };

  const aes = {
    generate(alg, extractable, usages) {
      allowOnly(usages, AES_USAGES[alg.name], alg.name);
      if (![128, 192, 256].includes(alg.length)) throw operationError("The AES key length must be 128, 192 or 256");
      const data = getRandomValues(new Uint8Array(alg.length / 8));
      return makeKey("secret", extractable, { name: alg.name, length: alg.length }, usages, data);
    },
    import(format, keyData, alg, extractable, usages) {
      allowOnly(usages, AES_USAGES[alg.name], alg.name);
      let data;
      if (format === "raw") {
        data = keyData;
      } else if (format === "jwk") {
        checkJwk(keyData, "oct", usages, extractable, "enc");
        data = fromBase64url(keyData.k, "k");
        const suffix = { "AES-CTR": "CTR", "AES-CBC": "CBC", "AES-GCM": "GCM", "AES-KW": "KW" }[alg.name];
        if (keyData.alg !== undefined && keyData.alg !== `A${data.length * 8}${suffix}`) {
          throw dataError(`The JWK "alg" ${JSON.stringify(keyData.alg)} does not match the key`);
        }
      } else {
        throw notSupported(`An ${alg.name} key cannot be imported as ${format}`);
      }
      if (![16, 24, 32].includes(data.length)) throw dataError("An AES key has 128, 192 or 256 bits");
      return makeKey("secret", extractable, { name: alg.name, length: data.length * 8 }, usages, data);
    },
    export(format, key) {
      const s = slots(key);
      if (format === "raw") return toBuffer(s.data.slice());
      if (format === "jwk") {
        const suffix = { "AES-CTR": "CTR", "AES-CBC": "CBC", "AES-GCM": "GCM", "AES-KW": "KW" }[s.algorithm.name];
        return jwkOf(key, { kty: "oct", k: base64url(s.data), alg: `A${s.algorithm.length}${suffix}` });
      }
      throw notSupported(`An ${s.algorithm.name} key cannot be exported as ${format}`);
    },
    encrypt(alg, key, data, decrypt) {
      const k = slots(key).data;
      const fn = decrypt ? native.aesDecrypt : native.aesEncrypt;
      if (alg.name === "AES-CBC") {
        if (alg.iv.length !== 16) throw operationError("The AES-CBC iv must have 16 bytes");
        return call("OperationError", () => fn("AES-CBC", k, alg.iv, new Uint8Array(0), 0, data));
      }
      if (alg.name === "AES-CTR") {
        if (alg.counter.length !== 16) throw operationError("The AES-CTR counter must have 16 bytes");
        if (alg.length === 0 || alg.length > 128) throw operationError("The AES-CTR length must be 1 to 128");
        return call("OperationError", () => fn("AES-CTR", k, alg.counter, new Uint8Array(0), alg.length, data));
      }
      // AES-GCM
      const tagLength = alg.tagLength ?? 128;
      if (![32, 64, 96, 104, 112, 120, 128].includes(tagLength)) {
        throw operationError(`${tagLength} is not a valid AES-GCM tag length`);
      }
      if (alg.iv.length !== 12) {
        if (alg.iv.length === 0) throw operationError("The AES-GCM iv must not be empty");
        throw operationError("This engine supports AES-GCM with a 96-bit iv only");
      }
      const aad = alg.additionalData ?? new Uint8Array(0);
      if (decrypt && data.length < tagLength / 8) throw operationError("The data is shorter than the tag");
      return call("OperationError", () => fn("AES-GCM", k, alg.iv, aad, tagLength, data));
    },
    wrap(key, data, unwrap) {
      if (data.length % 8 !== 0 || (unwrap && data.length < 24) || (!unwrap && data.length < 16)) {
        throw operationError("AES-KW wraps a whole number of 64-bit blocks, at least 128 bits");
      }
      const fn = unwrap ? native.aesDecrypt : native.aesEncrypt;
      return call("OperationError", () => fn("AES-KW", slots(key).data, new Uint8Array(0), new Uint8Array(0), 0, data));
    },
    keyLength(alg) {
      if (![128, 192, 256].includes(alg.length)) throw operationError("The AES key length must be 128, 192 or 256");
      return alg.length;
    },
  };

  // -- HMAC ---------------------------------------------------------------------

  const hmac = {
    generate(alg, extractable, usages) {
      allowOnly(usages, ["sign", "verify"], "HMAC");
      let length = alg.length;
      if (length === undefined) length = HASH_BLOCK_BITS[alg.hash.name];
      else if (length === 0) throw operationError("The HMAC key length must not be zero");
      const data = getRandomValues(new Uint8Array(Math.ceil(length / 8)));
      if (length % 8) data[data.length - 1] &= 0xff << (8 - (length % 8));
      return makeKey("secret", extractable, { name: "HMAC", hash: alg.hash, length }, usages, data);
    },
    import(format, keyData, alg, extractable, usages) {
      allowOnly(usages, ["sign", "verify"], "HMAC");
      let data;
      if (format === "raw") {
        data = keyData;
      } else if (format === "jwk") {
        checkJwk(keyData, "oct", usages, extractable, "sig");
        data = fromBase64url(keyData.k, "k");
        const expected = `HS${alg.hash.name.slice(4)}`;
        if (keyData.alg !== undefined && keyData.alg !== expected) {
          throw dataError(`The JWK "alg" ${JSON.stringify(keyData.alg)} does not match ${alg.hash.name}`);
        }
      } else {
        throw notSupported(`An HMAC key cannot be imported as ${format}`);
      }
      if (data.length === 0) throw dataError("An HMAC key must not be empty");
      let length = data.length * 8;
      if (alg.length !== undefined) {
        if (alg.length > length || alg.length <= length - 8) throw dataError("The HMAC length does not match the key");
        length = alg.length;
      }
      return makeKey("secret", extractable, { name: "HMAC", hash: alg.hash, length }, usages, data);
    },
    export(format, key) {
      const s = slots(key);
      if (format === "raw") return toBuffer(s.data.slice());
      if (format === "jwk") return jwkOf(key, { kty: "oct", k: base64url(s.data), alg: `HS${s.algorithm.hash.name.slice(4)}` });
      throw notSupported(`An HMAC key cannot be exported as ${format}`);
    },
    sign(alg, key, data) {
      const s = slots(key);
      return native.hmac(s.algorithm.hash.name, s.data, data);
    },
    verify(alg, key, signature, data) {
      const s = slots(key);
      return native.hmacVerify(s.algorithm.hash.name, s.data, data, signature);
    },
    keyLength(alg) {
      if (alg.length === undefined) return HASH_BLOCK_BITS[alg.hash.name];
      if (alg.length === 0) throw new TypeError("The HMAC key length must not be zero");
      return alg.length;
    },
  };

  // -- PBKDF2 and HKDF ----------------------------------------------------------

  function kdf(name) {
    return {
      import(format, keyData, alg, extractable, usages) {
        allowOnly(usages, ["deriveKey", "deriveBits"], name);
        if (format !== "raw") throw notSupported(`A ${name} key can only be imported as raw`);
        if (extractable) throw syntaxError(`A ${name} key cannot be extractable`);
        return makeKey("secret", false, { name }, usages, keyData);
      },
      keyLength() {
        return null;
      },
      deriveBits(alg, key, length) {
        if (length === null) throw operationError(`${name} needs a length`);
        if (length % 8 !== 0) throw operationError(`The ${name} length must be a multiple of 8`);
        const secret = slots(key).data;
        if (name === "PBKDF2") {
          if (alg.iterations === 0) throw operationError("PBKDF2 needs at least one iteration");
          return native.pbkdf2(alg.hash.name, secret, alg.salt, alg.iterations, length);
        }
        if (length > 255 * HASH_BITS[alg.hash.name]) throw operationError("The HKDF length is too large for this hash");
        return call("OperationError", () => native.hkdf(alg.hash.name, secret, alg.salt, alg.info, length));
      },
    };
  }

  // -- Asymmetric keys (EC, OKP, RSA) -------------------------------------------

  /**
   * An asymmetric algorithm. `kindOf(alg)` names the native key type;
   * `publicUsages`/`privateUsages` the usages each half may have; `jwk`
   * describes the JWK form.
   */
  function asymmetric({ name, kindOf, publicUsages, privateUsages, algorithmOf, jwk }) {
    function allUsages() {
      return [...publicUsages, ...privateUsages];
    }
    function split(usages) {
      return [usages.filter((u) => publicUsages.includes(u)), usages.filter((u) => privateUsages.includes(u))];
    }
    return {
      generate(alg, extractable, usages) {
        allowOnly(usages, allUsages(), name);
        const kind = kindOf(alg);
        let modulusBits = 0;
        let exponent = new Uint8Array(0);
        if (kind === "RSA") {
          modulusBits = alg.modulusLength;
          exponent = alg.publicExponent;
          const e = exponent.reduce((n, b) => n * 256 + b, 0);
          if (e !== 3 && e !== 65537) throw operationError("The public exponent must be 3 or 65537");
          if (modulusBits < 256 || modulusBits > 16384 || modulusBits % 8) {
            throw operationError("The modulus length must be a multiple of 8 from 256 to 16384");
          }
        }
        const [pkcs8, spki] = call("OperationError", () => native.generate(kind, modulusBits, exponent));
        const algorithm = algorithmOf(alg, kind === "RSA" ? call("OperationError", () => native.import("RSA", "spki", spki)) : null);
        const [pub, priv] = split(usages);
        if (priv.length === 0) throw syntaxError(`A ${name} private key needs a usage`);
        return {
          publicKey: makeKey("public", true, algorithm, pub, spki, kind),
          privateKey: makeKey("private", extractable, algorithm, priv, pkcs8, kind),
        };
      },
      import(format, keyData, alg, extractable, usages) {
        const kind = kindOf(alg);
        let type;
        let result;
        if (format === "spki" || format === "raw") {
          if (format === "raw" && kind === "RSA") throw notSupported(`A ${name} key cannot be imported as raw`);
          type = "public";
          result = call("DataError", () => native.import(kind, format, keyData));
        } else if (format === "pkcs8") {
          type = "private";
          result = call("DataError", () => native.import(kind, format, keyData));
        } else if (format === "jwk") {
          checkJwk(keyData, jwk.kty, usages, extractable, jwk.use);
          jwk.check(keyData, alg);
          type = keyData.d !== undefined ? "private" : "public";
          const parts = jwk.members(type).map((m) => fromBase64url(keyData[m], m));
          result = call("DataError", () => native.jwkImport(kind, parts));
        } else {
          throw notSupported(`Unrecognized key format ${JSON.stringify(format)}`);
        }
        allowOnly(usages, type === "public" ? publicUsages : privateUsages, `a ${name} ${type} key`);
        if (type === "private" && usages.length === 0) throw syntaxError(`A ${name} private key needs a usage`);
        return makeKey(type, extractable, algorithmOf(alg, result), usages, result[0], kind);
      },
      export(format, key) {
        const s = slots(key);
        if (format === "spki") {
          if (s.type !== "public") throw invalidAccess("Only a public key can be exported as spki");
          return toBuffer(s.data.slice());
        }
        if (format === "pkcs8") {
          if (s.type !== "private") throw invalidAccess("Only a private key can be exported as pkcs8");
          return toBuffer(s.data.slice());
        }
        if (format === "raw") {
          if (s.type !== "public" || s.kind === "RSA") throw invalidAccess(`This ${name} key cannot be exported as raw`);
          return toBuffer(call("OperationError", () => native.exportRaw(s.kind, s.data)));
        }
        if (format === "jwk") {
          const values = call("OperationError", () => native.jwkExport(s.kind, s.data, s.type === "private"));
          const members = jwk.members(s.type);
          const out = jwk.base(s.algorithm);
          members.forEach((m, i) => (out[m] = base64url(values[i])));
          return jwkOf(key, out);
        }
        throw notSupported(`Unrecognized key format ${JSON.stringify(format)}`);
      },
    };
  }

  const RSA_JWK_ALG = {
    "RSASSA-PKCS1-v1_5": (h) => `RS${h.slice(4)}`,
    "RSA-PSS": (h) => `PS${h.slice(4)}`,
    "RSA-OAEP": (h) => (h === "SHA-1" ? "RSA-OAEP" : `RSA-OAEP-${h.slice(4)}`),
  };

  function rsa(name, publicUsages, privateUsages) {
    const base = asymmetric({
      name,
      kindOf: () => "RSA",
      publicUsages,
      privateUsages,
      algorithmOf: (alg, imported) => ({
        name,
        modulusLength: imported[1],
        publicExponent: imported[2],
        hash: alg.hash,
      }),
      jwk: {
        kty: "RSA",
        use: name === "RSA-OAEP" ? "enc" : "sig",
        check(jwk, alg) {
          const expected = RSA_JWK_ALG[name](alg.hash.name);
          if (jwk.alg !== undefined && jwk.alg !== expected) {
            throw dataError(`The JWK "alg" ${JSON.stringify(jwk.alg)} does not match ${name} with ${alg.hash.name}`);
          }
          if (jwk.d !== undefined && jwk.oth !== undefined) throw notSupported("Multi-prime RSA keys are not supported");
        },
        members: (type) => (type === "private" ? ["n", "e", "d", "p", "q", "dp", "dq", "qi"] : ["n", "e"]),
        base: (algorithm) => ({ kty: "RSA", alg: RSA_JWK_ALG[name](algorithm.hash.name) }),
      },
    });
    return base;
  }

  const rsaPkcs1 = {
    ...rsa("RSASSA-PKCS1-v1_5", ["verify"], ["sign"]),
    sign(alg, key, data) {
      const s = slots(key);
      return call("OperationError", () => native.sign("RSASSA-PKCS1-v1_5", s.algorithm.hash.name, s.data, data, 0));
    },
    verify(alg, key, signature, data) {
      const s = slots(key);
      return native.verify("RSASSA-PKCS1-v1_5", s.algorithm.hash.name, s.data, signature, data, 0);
    },
  };

  const rsaPss = {
    ...rsa("RSA-PSS", ["verify"], ["sign"]),
    sign(alg, key, data) {
      const s = slots(key);
      return call("OperationError", () => native.sign("RSA-PSS", s.algorithm.hash.name, s.data, data, alg.saltLength));
    },
    verify(alg, key, signature, data) {
      const s = slots(key);
      return native.verify("RSA-PSS", s.algorithm.hash.name, s.data, signature, data, alg.saltLength);
    },
  };

  const rsaOaep = {
    ...rsa("RSA-OAEP", ["encrypt", "wrapKey"], ["decrypt", "unwrapKey"]),
    encrypt(alg, key, data, decrypt) {
      const s = slots(key);
      const label = alg.label ?? new Uint8Array(0);
      return call("OperationError", () => native.rsaOaep(!decrypt, s.algorithm.hash.name, s.data, label, data));
    },
  };

  function ec(name, publicUsages, privateUsages) {
    return asymmetric({
      name,
      kindOf: (alg) => {
        checkCurve(alg.namedCurve);
        return alg.namedCurve;
      },
      publicUsages,
      privateUsages,
      algorithmOf: (alg) => ({ name, namedCurve: alg.namedCurve }),
      jwk: {
        kty: "EC",
        use: name === "ECDSA" ? "sig" : "enc",
        check(jwk, alg) {
          if (jwk.crv !== alg.namedCurve) throw dataError(`The JWK "crv" must be ${alg.namedCurve}`);
          if (name === "ECDSA" && jwk.alg !== undefined && jwk.alg !== ECDSA_JWK_ALG[alg.namedCurve]) {
            throw dataError(`The JWK "alg" ${JSON.stringify(jwk.alg)} does not match ${alg.namedCurve}`);
          }
        },
        members: (type) => (type === "private" ? ["x", "y", "d"] : ["x", "y"]),
        base: (algorithm) => ({ kty: "EC", crv: algorithm.namedCurve }),
      },
    });
  }

  const ecdsa = {
    ...ec("ECDSA", ["verify"], ["sign"]),
    sign(alg, key, data) {
      const s = slots(key);
      return call("OperationError", () => native.sign(s.kind, alg.hash.name, s.data, data, 0));
    },
    verify(alg, key, signature, data) {
      const s = slots(key);
      if (signature.length !== 2 * CURVE_BYTES[s.kind]) return false;
      return native.verify(s.kind, alg.hash.name, s.data, signature, data, 0);
    },
  };

  /** ECDH and X25519 deriveBits: the shared secret, cut to `length` bits. */
  function agree(alg, key, length) {
    const s = slots(key);
    const peer = keys.get(alg.public);
    if (peer.type !== "public") throw invalidAccess("The public member must be a public key");
    if (peer.algorithm.name !== s.algorithm.name) throw invalidAccess("The public key is for another algorithm");
    if (peer.kind !== s.kind) throw invalidAccess("The public key is on another curve");
    const secret = call("OperationError", () => native.derive(s.kind, s.data, peer.data));
    if (length === null) return secret;
    if (length > secret.length * 8) throw operationError("The length is longer than the shared secret");
    const out = secret.slice(0, Math.ceil(length / 8));
    if (length % 8) out[out.length - 1] &= 0xff << (8 - (length % 8));
    return out;
  }

  const ecdh = { ...ec("ECDH", [], ["deriveKey", "deriveBits"]), deriveBits: agree };

  function okp(name, publicUsages, privateUsages) {
    return asymmetric({
      name,
      kindOf: () => name,
      publicUsages,
      privateUsages,
      algorithmOf: () => ({ name }),
      jwk: {
        kty: "OKP",
        use: name === "Ed25519" ? "sig" : "enc",
        check(jwk) {
          if (jwk.crv !== name) throw dataError(`The JWK "crv" must be ${name}`);
          if (name === "Ed25519" && jwk.alg !== undefined && jwk.alg !== "EdDSA" && jwk.alg !== "Ed25519") {
            throw dataError(`The JWK "alg" ${JSON.stringify(jwk.alg)} is not EdDSA`);
          }
        },
        members: (type) => (type === "private" ? ["x", "d"] : ["x"]),
        base: () => ({ kty: "OKP", crv: name, ...(name === "Ed25519" ? { alg: "Ed25519" } : {}) }),
      },
    });
  }

  const ed25519 = {
    ...okp("Ed25519", ["verify"], ["sign"]),
    sign(alg, key, data) {
      const s = slots(key);
      return call("OperationError", () => native.sign("Ed25519", "", s.data, data, 0));
    },
    verify(alg, key, signature, data) {
      const s = slots(key);
      return native.verify("Ed25519", "", s.data, signature, data, 0);
    },
  };

  const x25519 = { ...okp("X25519", [], ["deriveKey", "deriveBits"]), deriveBits: agree };

  const ALGORITHMS = {
    "AES-CTR": aes,
    "AES-CBC": aes,
    "AES-GCM": aes,
    "AES-KW": aes,
    HMAC: hmac,
    PBKDF2: kdf("PBKDF2"),
    HKDF: kdf("HKDF"),
    "RSASSA-PKCS1-v1_5": rsaPkcs1,
    "RSA-PSS": rsaPss,
    "RSA-OAEP": rsaOaep,
    ECDSA: ecdsa,
    ECDH: ecdh,
    Ed25519: ed25519,
    X25519: x25519,
  };

  // ---------------------------------------------------------------------------
  // SubtleCrypto

  const FORMATS = ["raw", "spki", "pkcs8", "jwk"];

  function keyFormat(format) {
    const f = String(format);
    if (!FORMATS.includes(f)) throw new TypeError(`${JSON.stringify(f)} is not a valid KeyFormat`);
    return f;
  }

  function keyData(format, data) {
    if (format === "jwk") {
      if (data === null || typeof data !== "object" || ArrayBuffer.isView(data) || data instanceof ArrayBuffer) {
        throw new TypeError("A JWK must be an object");
      }
      return data;
    }
    return bufferSource(data, "keyData");
  }

  function checkKey(key, alg, usage) {
    const s = slots(key);
    if (s.algorithm.name !== alg.name) {
      throw invalidAccess(`The key is for ${s.algorithm.name}, not ${alg.name}`);
    }
    if (!s.usages.includes(usage)) throw invalidAccess(`The key does not allow "${usage}"`);
    return s;
  }

  function requireKey(key, what) {
    if (!(key instanceof CryptoKey)) throw new TypeError(`${what} is not a CryptoKey`);
    return key;
  }

  function importKeyNow(format, data, algorithm, extractable, usages) {
    const alg = normalize("importKey", algorithm);
    const key = ALGORITHMS[alg.name].import(format, data, alg, Boolean(extractable), usages);
    const s = slots(key);
    if ((s.type === "secret" || s.type === "private") && s.usages.length === 0) {
      throw syntaxError("A secret or private key needs at least one usage");
    }
    return key;
  }

  function exportKeyNow(format, key) {
    const s = slots(key);
    if (!s.extractable) throw invalidAccess("The key is not extractable");
    return ALGORITHMS[s.algorithm.name].export(format, key);
  }

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  class SubtleCrypto {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
    }

    async digest(algorithm, data) {
      if (arguments.length < 2) throw new TypeError("digest needs 2 arguments");
      const alg = normalize("digest", algorithm);
      const bytes = bufferSource(data, "data");
      return toBuffer(native.digest(alg.name, bytes));
    }

    async encrypt(algorithm, key, data) {
      return cipher("encrypt", algorithm, key, data, arguments.length);
    }

    async decrypt(algorithm, key, data) {
      return cipher("decrypt", algorithm, key, data, arguments.length);
    }

    async sign(algorithm, key, data) {
      if (arguments.length < 3) throw new TypeError("sign needs 3 arguments");
      const alg = normalize("sign", algorithm);
      const bytes = bufferSource(data, "data");
      requireKey(key, "key");
      checkKey(key, alg, "sign");
      return toBuffer(ALGORITHMS[alg.name].sign(alg, key, bytes));
    }

    async verify(algorithm, key, signature, data) {
      if (arguments.length < 4) throw new TypeError("verify needs 4 arguments");
      const alg = normalize("verify", algorithm);
      const sig = bufferSource(signature, "signature");
      const bytes = bufferSource(data, "data");
      requireKey(key, "key");
      checkKey(key, alg, "verify");
      return ALGORITHMS[alg.name].verify(alg, key, sig, bytes);
    }

    async generateKey(algorithm, extractable, keyUsages) {
      if (arguments.length < 3) throw new TypeError("generateKey needs 3 arguments");
      const usages = checkUsages(keyUsages);
      const alg = normalize("generateKey", algorithm);
      const result = ALGORITHMS[alg.name].generate(alg, Boolean(extractable), usages);
      if (result instanceof CryptoKey) {
        if (slots(result).usages.length === 0) throw syntaxError("A secret key needs at least one usage");
      }
      return result;
    }

    async importKey(format, keyDataValue, algorithm, extractable, keyUsages) {
      if (arguments.length < 5) throw new TypeError("importKey needs 5 arguments");
      const f = keyFormat(format);
      const data = keyData(f, keyDataValue);
      const usages = checkUsages(keyUsages);
      return importKeyNow(f, data, algorithm, extractable, usages);
    }

    async exportKey(format, key) {
      if (arguments.length < 2) throw new TypeError("exportKey needs 2 arguments");
      const f = keyFormat(format);
      requireKey(key, "key");
      return exportKeyNow(f, key);
    }

    async deriveBits(algorithm, baseKey, length = null) {
      if (arguments.length < 2) throw new TypeError("deriveBits needs 2 arguments");
      const alg = normalize("deriveBits", algorithm);
      const bits = length === null || length === undefined ? null : enforceRange(length, 0xffffffff, "length");
      requireKey(baseKey, "baseKey");
      checkKey(baseKey, alg, "deriveBits");
      return toBuffer(ALGORITHMS[alg.name].deriveBits(alg, baseKey, bits));
    }

    async deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
      if (arguments.length < 5) throw new TypeError("deriveKey needs 5 arguments");
      const alg = normalize("deriveBits", algorithm);
      const importAlg = normalize("importKey", derivedKeyType);
      const lengthAlg = normalize("getKeyLength", derivedKeyType);
      const usages = checkUsages(keyUsages);
      requireKey(baseKey, "baseKey");
      checkKey(baseKey, alg, "deriveKey");
      const length = ALGORITHMS[lengthAlg.name].keyLength(lengthAlg);
      const secret = ALGORITHMS[alg.name].deriveBits(alg, baseKey, length);
      return importKeyNow("raw", secret, importAlg, extractable, usages);
    }

    async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
      if (arguments.length < 4) throw new TypeError("wrapKey needs 4 arguments");
      const f = keyFormat(format);
      requireKey(key, "key");
      requireKey(wrappingKey, "wrappingKey");
      let alg;
      try {
        alg = normalize("wrapKey", wrapAlgorithm);
      } catch (err) {
        if (!(err instanceof DOMException && err.name === "NotSupportedError")) throw err;
        alg = normalize("encrypt", wrapAlgorithm);
      }
      checkKey(wrappingKey, alg, "wrapKey");
      const exported = exportKeyNow(f, key);
      const bytes = f === "jwk" ? encoder.encode(JSON.stringify(exported)) : new Uint8Array(exported);
      const impl = ALGORITHMS[alg.name];
      return toBuffer(alg.name === "AES-KW" ? impl.wrap(wrappingKey, bytes, false) : impl.encrypt(alg, wrappingKey, bytes, false));
    }

    async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
      if (arguments.length < 7) throw new TypeError("unwrapKey needs 7 arguments");
      const f = keyFormat(format);
      const wrapped = bufferSource(wrappedKey, "wrappedKey");
      requireKey(unwrappingKey, "unwrappingKey");
      let alg;
      try {
        alg = normalize("unwrapKey", unwrapAlgorithm);
      } catch (err) {
        if (!(err instanceof DOMException && err.name === "NotSupportedError")) throw err;
        alg = normalize("decrypt", unwrapAlgorithm);
      }
      const usages = checkUsages(keyUsages);
      checkKey(unwrappingKey, alg, "unwrapKey");
      const impl = ALGORITHMS[alg.name];
      const bytes = alg.name === "AES-KW" ? impl.wrap(unwrappingKey, wrapped, true) : impl.encrypt(alg, unwrappingKey, wrapped, true);
      let data = bytes;
      if (f === "jwk") {
        try {
          data = JSON.parse(decoder.decode(bytes));
        } catch {
          throw dataError("The unwrapped key is not a JWK");
        }
      }
      return importKeyNow(f, keyData(f, data), unwrappedKeyAlgorithm, extractable, usages);
    }
  }

  async function cipher(op, algorithm, key, data, argc) {
    if (argc < 3) throw new TypeError(`${op} needs 3 arguments`);
    const alg = normalize(op, algorithm);
    const bytes = bufferSource(data, "data");
    requireKey(key, "key");
    checkKey(key, alg, op);
    return toBuffer(ALGORITHMS[alg.name].encrypt(alg, key, bytes, op === "decrypt"));
  }

  constructing = true;
  const subtle = new SubtleCrypto();
  constructing = false;

  class Crypto {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
    }
    get subtle() {
      return subtle;
    }
    getRandomValues(array) {
      return getRandomValues(array);
    }
    randomUUID() {
      return randomUUID();
    }
  }

  constructing = true;
  const crypto = new Crypto();
  constructing = false;

  exposeClass(CryptoKey);
  exposeClass(SubtleCrypto);
  exposeClass(Crypto);
  expose("crypto", crypto);
})();
