// Tests of 36-compression.js and 45-crypto.js (and the small globals of
// 10-base.js) on Node 20:
//
//   node guest-js/js/test/web.mjs
//
// The prelude runs in a fresh `vm` context whose fake `__pbs.crypto` and
// `__pbs.zlib` are Node's own crypto and zlib, so these tests check the JS
// half — algorithm normalisation, usages, JWK, key objects, DOMException
// names, the stream plumbing — and compare every result with Node's
// WebCrypto on the same inputs. The native half (RustCrypto, flate2) is
// checked against Node in the end-to-end tests (tests/tests/e2e/web.rs).
import assert from "node:assert/strict";
import nodeCrypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const JS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PRELUDE = fs.readdirSync(JS_DIR).filter((name) => /^\d\d-.*\.js$/.test(name)).sort();
const subtle = globalThis.crypto.subtle; // Node's, the reference

// ---------------------------------------------------------------------------
// The fake bridge: Node's crypto and zlib behind the native contract.

function fakeBridge(realm) {
  const u8 = (data) => new realm.Uint8Array(Buffer.from(data));
  const fail = (message) => {
    throw new realm.Error(message);
  };
  const hashName = (h) => h.replace("-", "").toLowerCase();
  const curveOf = { "P-256": "prime256v1", "P-384": "secp384r1" };

  function keyObject(kind, der, type) {
    const options = { key: Buffer.from(der), format: "der", type: type === "public" ? "spki" : "pkcs8" };
    return type === "public" ? nodeCrypto.createPublicKey(options) : nodeCrypto.createPrivateKey(options);
  }
  function described(kind, key) {
    const der = u8(key.export({ format: "der", type: key.type === "public" ? "spki" : "pkcs8" }));
    if (kind !== "RSA") return realm.Array.of(der);
    const details = key.asymmetricKeyDetails;
    let e = details.publicExponent;
    const bytes = [];
    while (e > 0n) {
      bytes.unshift(Number(e & 0xffn));
      e >>= 8n;
    }
    return realm.Array.of(der, details.modulusLength, new realm.Uint8Array(bytes));
  }
  const b64 = (bytes) => Buffer.from(bytes).toString("base64url");

  const crypto = {
    digest: (alg, data) => u8(nodeCrypto.createHash(hashName(alg)).update(data).digest()),
    hmac: (hash, key, data) => u8(nodeCrypto.createHmac(hashName(hash), key).update(data).digest()),
    hmacVerify(hash, key, data, sig) {
      const mac = nodeCrypto.createHmac(hashName(hash), key).update(data).digest();
      return mac.length === sig.length && nodeCrypto.timingSafeEqual(mac, Buffer.from(sig));
    },
    aesEncrypt: (mode, key, iv, extra, n, data) => aes(mode, true, key, iv, extra, n, data),
    aesDecrypt: (mode, key, iv, extra, n, data) => aes(mode, false, key, iv, extra, n, data),
    pbkdf2: (hash, pw, salt, it, bits) => u8(nodeCrypto.pbkdf2Sync(pw, salt, it, bits / 8, hashName(hash))),
    hkdf: (hash, ikm, salt, info, bits) => u8(nodeCrypto.hkdfSync(hashName(hash), ikm, salt, info, bits / 8)),
    generate(kind, bits, exponent) {
      let pair;
      if (kind === "RSA") {
        pair = nodeCrypto.generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: Number(Buffer.from(exponent).readUIntBE(0, exponent.length)) });
      } else if (kind === "Ed25519" || kind === "X25519") {
        pair = nodeCrypto.generateKeyPairSync(kind.toLowerCase());
      } else {
        pair = nodeCrypto.generateKeyPairSync("ec", { namedCurve: curveOf[kind] });
      }
      return realm.Array.of(
        u8(pair.privateKey.export({ format: "der", type: "pkcs8" })),
        u8(pair.publicKey.export({ format: "der", type: "spki" })),
      );
    },
    import(kind, format, data) {
      try {
        if (format === "raw") {
          if (kind === "Ed25519" || kind === "X25519") {
            return described(kind, nodeCrypto.createPublicKey({ key: { kty: "OKP", crv: kind, x: b64(data) }, format: "jwk" }));
          }
          const ecdh = nodeCrypto.ECDH.convertKey(Buffer.from(data), curveOf[kind], undefined, undefined, "uncompressed");
          const size = (ecdh.length - 1) / 2;
          return described(kind, nodeCrypto.createPublicKey({ key: { kty: "EC", crv: kind, x: b64(ecdh.subarray(1, 1 + size)), y: b64(ecdh.subarray(1 + size)) }, format: "jwk" }));
        }
        const key = keyObject(kind, data, format === "spki" ? "public" : "private");
        const type = key.asymmetricKeyType;
        const ok = kind === "RSA" ? type === "rsa" : kind === "Ed25519" || kind === "X25519" ? type === kind.toLowerCase() : type === "ec" && key.asymmetricKeyDetails.namedCurve === curveOf[kind];
        if (!ok) fail("the key is for another algorithm");
        return described(kind, key);
      } catch (err) {
        fail(err.message);
      }
    },
    exportRaw(kind, spki) {
      const jwk = keyObject(kind, spki, "public").export({ format: "jwk" });
      const x = Buffer.from(jwk.x, "base64url");
      if (kind === "Ed25519" || kind === "X25519") return u8(x);
      return u8(Buffer.concat([Buffer.of(4), x, Buffer.from(jwk.y, "base64url")]));
    },
    jwkImport(kind, parts) {
      const names = kind === "RSA" ? ["n", "e", "d", "p", "q", "dp", "dq", "qi"] : kind === "Ed25519" || kind === "X25519" ? ["x", "d"] : ["x", "y", "d"];
      const jwk = kind === "RSA" ? { kty: "RSA" } : kind === "Ed25519" || kind === "X25519" ? { kty: "OKP", crv: kind } : { kty: "EC", crv: kind };
      parts.forEach((p, i) => (jwk[names[i]] = b64(p)));
      try {
        const key = jwk.d ? nodeCrypto.createPrivateKey({ key: jwk, format: "jwk" }) : nodeCrypto.createPublicKey({ key: jwk, format: "jwk" });
        return described(kind, key);
      } catch (err) {
        fail(err.message);
      }
    },
    jwkExport(kind, der, priv) {
      const jwk = keyObject(kind, der, priv ? "private" : "public").export({ format: "jwk" });
      const names = kind === "RSA" ? (priv ? ["n", "e", "d", "p", "q", "dp", "dq", "qi"] : ["n", "e"]) : kind === "Ed25519" || kind === "X25519" ? (priv ? ["x", "d"] : ["x"]) : priv ? ["x", "y", "d"] : ["x", "y"];
      return realm.Array.from(names.map((n) => u8(Buffer.from(jwk[n], "base64url"))));
    },
    sign(kind, hash, der, data, salt) {
      const key = keyObject(kind, der, "private");
      if (kind === "Ed25519") return u8(nodeCrypto.sign(null, data, key));
      if (kind === "RSA-PSS") return u8(nodeCrypto.sign(hashName(hash), data, { key, padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: salt }));
      if (kind === "RSASSA-PKCS1-v1_5") return u8(nodeCrypto.sign(hashName(hash), data, key));
      return u8(nodeCrypto.sign(hashName(hash), data, { key, dsaEncoding: "ieee-p1363" }));
    },
    verify(kind, hash, der, sig, data, salt) {
      const key = keyObject(kind, der, "public");
      if (kind === "Ed25519") return nodeCrypto.verify(null, data, key, sig);
      if (kind === "RSA-PSS") return nodeCrypto.verify(hashName(hash), data, { key, padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: salt }, sig);
      if (kind === "RSASSA-PKCS1-v1_5") return nodeCrypto.verify(hashName(hash), data, key, sig);
      return nodeCrypto.verify(hashName(hash), data, { key, dsaEncoding: "ieee-p1363" }, sig);
    },
    rsaOaep(encrypt, hash, der, label, data) {
      const options = { padding: nodeCrypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashName(hash), oaepLabel: Buffer.from(label) };
      try {
        if (encrypt) return u8(nodeCrypto.publicEncrypt({ key: keyObject("RSA", der, "public"), ...options }, data));
        return u8(nodeCrypto.privateDecrypt({ key: keyObject("RSA", der, "private"), ...options }, data));
      } catch (err) {
        fail(err.message);
      }
    },
    derive(kind, priv, pub) {
      return u8(nodeCrypto.diffieHellman({ privateKey: keyObject(kind, priv, "private"), publicKey: keyObject(kind, pub, "public") }));
    },
  };

  function aes(mode, encrypt, key, iv, extra, n, data) {
    const bits = key.length * 8;
    try {
      if (mode === "AES-GCM") {
        const tag = n / 8;
        if (encrypt) {
          const c = nodeCrypto.createCipheriv(`aes-${bits}-gcm`, key, iv, { authTagLength: 16 });
          c.setAAD(extra);
          const out = Buffer.concat([c.update(data), c.final()]);
          return u8(Buffer.concat([out, c.getAuthTag().subarray(0, tag)]));
        }
        const d = nodeCrypto.createDecipheriv(`aes-${bits}-gcm`, key, iv, { authTagLength: tag });
        d.setAAD(extra);
        d.setAuthTag(data.subarray(data.length - tag));
        return u8(Buffer.concat([d.update(data.subarray(0, data.length - tag)), d.final()]));
      }
      if (mode === "AES-KW") {
        const c = (encrypt ? nodeCrypto.createCipheriv : nodeCrypto.createDecipheriv)(`id-aes${bits}-wrap`, key, Buffer.from("A6A6A6A6A6A6A6A6", "hex"));
        return u8(Buffer.concat([c.update(data), c.final()]));
      }
      const name = mode === "AES-CBC" ? `aes-${bits}-cbc` : `aes-${bits}-ctr`;
      const c = (encrypt ? nodeCrypto.createCipheriv : nodeCrypto.createDecipheriv)(name, key, iv);
      return u8(Buffer.concat([c.update(data), c.final()]));
    } catch (err) {
      fail(err.message);
    }
  }

  // zlib: buffered (Node has no synchronous incremental codec); the native
  // codec's chunking is what the end-to-end tests check.
  const codecs = new Map();
  let next = 1;
  const zlibFake = {
    open(format, decompress) {
      codecs.set(next, { format, decompress, input: [] });
      return next++;
    },
    push(id, bytes) {
      codecs.get(id).input.push(Buffer.from(bytes));
      return new realm.Uint8Array(0);
    },
    finish(id) {
      const { format, decompress, input } = codecs.get(id);
      codecs.delete(id);
      const data = Buffer.concat(input);
      const fn = {
        gzip: decompress ? zlib.gunzipSync : zlib.gzipSync,
        deflate: decompress ? zlib.inflateSync : zlib.deflateSync,
        "deflate-raw": decompress ? zlib.inflateRawSync : zlib.deflateRawSync,
      }[format];
      try {
        return u8(fn(data));
      } catch (err) {
        throw new realm.TypeError(err.message);
      }
    },
    drop: (id) => codecs.delete(id),
  };

  return { crypto, zlib: zlibFake };
}

function createContext() {
  const context = vm.createContext({});
  const realm = vm.runInContext("({ Array, Uint8Array, Error, TypeError })", context);
  const logs = [];
  const { crypto, zlib: z } = fakeBridge(realm);
  context.__pbs = {
    now: () => performance.now(),
    wait: () => realm.Array.of(),
    randomBytes: (n) => new realm.Uint8Array(nodeCrypto.randomBytes(n)),
    urlParse: () => null,
    urlSet: () => null,
    requestHref: () => null,
    utf8Encode: (s) => new realm.Uint8Array(Buffer.from(s, "utf8")),
    utf8Decode: (b, fatal) => new TextDecoder("utf-8", { fatal, ignoreBOM: true }).decode(b),
    log: (level, message) => logs.push([level, message]),
    crypto,
    zlib: z,
  };
  for (const name of PRELUDE) vm.runInContext(fs.readFileSync(path.join(JS_DIR, name), "utf8"), context, { filename: name });
  return { context, logs };
}

/** Runs `source` (an async function's text) in the context, driving its loop. */
async function inGuest(context, source, ...args) {
  const fn = vm.runInContext(`(${source})`, context);
  let outcome;
  fn(...args).then(
    (value) => (outcome = { value }),
    (error) => (outcome = { error }),
  );
  for (let i = 0; i < 10000 && outcome === undefined; i++) {
    await new Promise((r) => setImmediate(r));
    context.__pbsInternal.turn();
  }
  if (outcome === undefined) throw new Error("the guest code never finished");
  if ("error" in outcome) throw outcome.error;
  return outcome.value;
}

const hex = (buf) => Buffer.from(buf).toString("hex");

// ---------------------------------------------------------------------------
// The tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test("globals: self, navigator.userAgent, reportError, performance.timeOrigin", async ({ context, logs }) => {
  const r = vm.runInContext(
    `({ self: self === globalThis, ua: navigator.userAgent, origin: typeof performance.timeOrigin,
        types: [typeof Crypto, typeof CryptoKey, typeof SubtleCrypto, typeof CompressionStream, typeof DecompressionStream],
        same: crypto.subtle === crypto.subtle, tag: Object.prototype.toString.call(crypto.subtle) })`,
    context,
  );
  assert.deepEqual({ ...r, types: [...r.types] }, {
    self: true,
    ua: "pb-serverless",
    origin: "number",
    types: ["function", "function", "function", "function", "function"],
    same: true,
    tag: "[object SubtleCrypto]",
  });
  vm.runInContext(`reportError(new Error("reported"))`, context);
  assert.ok(logs.some(([level, message]) => level === "error" && message.includes("reported")));
  assert.throws(() => vm.runInContext("new CryptoKey()", context), /Illegal constructor/);
});

test("digest agrees with Node for every SHA", async ({ context }) => {
  for (const alg of ["SHA-1", "SHA-256", "SHA-384", "SHA-512"]) {
    const data = new TextEncoder().encode(`hello ${alg}`);
    const ours = await inGuest(context, `async (alg, d) => new Uint8Array(await crypto.subtle.digest({ name: alg.toLowerCase() }, d))`, alg, data);
    assert.equal(hex(ours), hex(await subtle.digest(alg, data)), alg);
  }
});

test("HMAC: import raw, sign, verify, export jwk, like Node", async ({ context }) => {
  const key = Buffer.from("0b".repeat(20), "hex");
  const data = new TextEncoder().encode("Hi There");
  const ours = await inGuest(
    context,
    `async (key, data) => {
      const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
      const sig = await crypto.subtle.sign("HMAC", k, data);
      const ok = await crypto.subtle.verify("HMAC", k, sig, data);
      const bad = await crypto.subtle.verify("HMAC", k, new Uint8Array(32), data);
      return { sig: new Uint8Array(sig), ok, bad, jwk: await crypto.subtle.exportKey("jwk", k), alg: k.algorithm, usages: k.usages };
    }`,
    key,
    data,
  );
  const nk = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
  assert.equal(hex(ours.sig), hex(await subtle.sign("HMAC", nk, data)));
  assert.equal(ours.ok, true);
  assert.equal(ours.bad, false);
  assert.deepEqual(JSON.parse(JSON.stringify(ours.jwk)), await subtle.exportKey("jwk", nk));
  assert.deepEqual(JSON.parse(JSON.stringify(ours.alg)), { name: "HMAC", hash: { name: "SHA-256" }, length: 160 });
  assert.deepEqual([...ours.usages], ["sign", "verify"]);
});

test("errors carry the WebCrypto DOMException names", async ({ context }) => {
  const names = await inGuest(
    context,
    `async () => {
      const name = (p) => p.then(() => "resolved", (e) => e.name);
      const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]);
      return [
        await name(crypto.subtle.digest("MD5", new Uint8Array(1))),
        await name(crypto.subtle.importKey("raw", new Uint8Array(15), "AES-GCM", false, ["encrypt"])),
        await name(crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["sign"])),
        await name(crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, k, new Uint8Array(32))),
        await name(crypto.subtle.exportKey("raw", k)),
        await name(crypto.subtle.encrypt({ name: "AES-GCM" }, k, new Uint8Array(1))),
        await name(crypto.subtle.importKey("raw", new Uint8Array(16), { name: "HMAC" }, false, ["sign"])),
      ];
    }`,
  );
  assert.deepEqual([...names], ["NotSupportedError", "DataError", "SyntaxError", "InvalidAccessError", "InvalidAccessError", "TypeError", "TypeError"]);
});

test("AES-GCM, AES-CBC, AES-CTR and AES-KW agree with Node", async ({ context }) => {
  const key = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");
  const data = new TextEncoder().encode("The quick brown fox jumps over the lazy dog");
  const cases = [
    { name: "AES-GCM", iv: new Uint8Array(12).fill(7), additionalData: new Uint8Array([1, 2]), tagLength: 96 },
    { name: "AES-CBC", iv: new Uint8Array(16).fill(9) },
    { name: "AES-CTR", counter: new Uint8Array(16).fill(3), length: 64 },
  ];
  for (const params of cases) {
    const ours = await inGuest(
      context,
      `async (key, params, data) => {
        const k = await crypto.subtle.importKey("raw", key, params.name, true, ["encrypt", "decrypt"]);
        const c = await crypto.subtle.encrypt(params, k, data);
        const p = await crypto.subtle.decrypt(params, k, c);
        return { c: new Uint8Array(c), p: new Uint8Array(p) };
      }`,
      key,
      params,
      data,
    );
    const nk = await subtle.importKey("raw", key, params.name, true, ["encrypt"]);
    assert.equal(hex(ours.c), hex(await subtle.encrypt(params, nk, data)), params.name);
    assert.equal(hex(ours.p), hex(data), params.name);
  }
  const wrapped = await inGuest(
    context,
    `async (key) => {
      const kek = await crypto.subtle.importKey("raw", key, "AES-KW", false, ["wrapKey", "unwrapKey"]);
      const k = await crypto.subtle.importKey("raw", new Uint8Array(16).fill(5), "AES-GCM", true, ["encrypt"]);
      const w = await crypto.subtle.wrapKey("raw", k, kek, "AES-KW");
      const u = await crypto.subtle.unwrapKey("raw", w, kek, "AES-KW", "AES-GCM", true, ["encrypt"]);
      return { w: new Uint8Array(w), u: new Uint8Array(await crypto.subtle.exportKey("raw", u)) };
    }`,
    key,
  );
  const kek = await subtle.importKey("raw", key, "AES-KW", false, ["wrapKey"]);
  const nk = await subtle.importKey("raw", new Uint8Array(16).fill(5), "AES-GCM", true, ["encrypt"]);
  assert.equal(hex(wrapped.w), hex(await subtle.wrapKey("raw", nk, kek, "AES-KW")));
  assert.equal(hex(wrapped.u), "05".repeat(16));
});

test("PBKDF2 and HKDF deriveBits / deriveKey agree with Node", async ({ context }) => {
  const secret = new TextEncoder().encode("password");
  const salt = new TextEncoder().encode("salt");
  const ours = await inGuest(
    context,
    `async (secret, salt) => {
      const p = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, ["deriveBits", "deriveKey"]);
      const h = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
      const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", salt, iterations: 1000, hash: "SHA-256" }, p, 256);
      const hk = await crypto.subtle.deriveBits({ name: "HKDF", salt, info: new Uint8Array([1]), hash: "SHA-384" }, h, 128);
      const key = await crypto.subtle.deriveKey({ name: "PBKDF2", salt, iterations: 10, hash: "SHA-1" }, p, { name: "AES-CBC", length: 128 }, true, ["encrypt"]);
      return { bits: new Uint8Array(bits), hk: new Uint8Array(hk), key: new Uint8Array(await crypto.subtle.exportKey("raw", key)) };
    }`,
    secret,
    salt,
  );
  const p = await subtle.importKey("raw", secret, "PBKDF2", false, ["deriveBits"]);
  const h = await subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  assert.equal(hex(ours.bits), hex(await subtle.deriveBits({ name: "PBKDF2", salt, iterations: 1000, hash: "SHA-256" }, p, 256)));
  assert.equal(hex(ours.hk), hex(await subtle.deriveBits({ name: "HKDF", salt, info: new Uint8Array([1]), hash: "SHA-384" }, h, 128)));
  assert.equal(hex(ours.key), hex(await subtle.deriveBits({ name: "PBKDF2", salt, iterations: 10, hash: "SHA-1" }, p, 128)));
});

test("ECDSA, Ed25519, RSA: keys and signatures cross-verify with Node", async ({ context }) => {
  const data = new TextEncoder().encode("signed payload");
  const algorithms = [
    [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
    [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }],
    [{ name: "Ed25519" }, { name: "Ed25519" }],
    [{ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
    [{ name: "RSA-PSS", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }],
  ];
  for (const [gen, params] of algorithms) {
    const ours = await inGuest(
      context,
      `async (gen, params, data) => {
        const pair = await crypto.subtle.generateKey(gen, true, ["sign", "verify"]);
        const sig = await crypto.subtle.sign(params, pair.privateKey, data);
        return {
          sig: new Uint8Array(sig),
          spki: new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)),
          jwk: await crypto.subtle.exportKey("jwk", pair.privateKey),
          pkcs8: new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
          ok: await crypto.subtle.verify(params, pair.publicKey, sig, data),
          types: [pair.publicKey.type, pair.privateKey.type],
        };
      }`,
      gen,
      params,
      data,
    );
    const importAlg = { ...gen };
    const pub = await subtle.importKey("spki", ours.spki, importAlg, true, ["verify"]);
    assert.equal(await subtle.verify(params, pub, ours.sig, data), true, gen.name);
    assert.equal(ours.ok, true, gen.name);
    assert.deepEqual([...ours.types], ["public", "private"]);
    // The JWK and the PKCS #8 document name the same key under Node.
    const fromJwk = await subtle.importKey("jwk", JSON.parse(JSON.stringify(ours.jwk)), importAlg, true, ["sign"]);
    const fromPkcs8 = await subtle.importKey("pkcs8", ours.pkcs8, importAlg, true, ["sign"]);
    assert.deepEqual(await subtle.exportKey("jwk", fromJwk), await subtle.exportKey("jwk", fromPkcs8), gen.name);
    // A Node signature verifies in the guest.
    const nodeSig = await subtle.sign(params, fromPkcs8, data);
    const verified = await inGuest(
      context,
      `async (spki, gen, params, sig, data) => {
        const k = await crypto.subtle.importKey("spki", spki, gen, false, ["verify"]);
        return [await crypto.subtle.verify(params, k, sig, data), await crypto.subtle.verify(params, k, sig, new Uint8Array(3))];
      }`,
      ours.spki,
      importAlg,
      params,
      new Uint8Array(nodeSig),
      data,
    );
    assert.deepEqual([...verified], [true, false], gen.name);
  }
});

test("ECDH and X25519 agree with Node; RSA-OAEP decrypts Node's ciphertext", async ({ context }) => {
  for (const alg of [{ name: "ECDH", namedCurve: "P-256" }, { name: "X25519" }]) {
    const theirs = await subtle.generateKey(alg, true, ["deriveBits"]);
    const theirSpki = new Uint8Array(await subtle.exportKey("spki", theirs.publicKey));
    const ours = await inGuest(
      context,
      `async (alg, theirSpki) => {
        const pair = await crypto.subtle.generateKey(alg, true, ["deriveBits"]);
        const peer = await crypto.subtle.importKey("spki", theirSpki, alg, true, []);
        const bits = await crypto.subtle.deriveBits({ name: alg.name, public: peer }, pair.privateKey, null);
        return { bits: new Uint8Array(bits), spki: new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey)),
                 raw: new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)) };
      }`,
      alg,
      theirSpki,
    );
    const mine = await subtle.importKey("spki", ours.spki, alg, true, []);
    const expected = await subtle.deriveBits({ name: alg.name, public: mine }, theirs.privateKey, alg.name === "X25519" ? 256 : 256);
    assert.equal(hex(ours.bits), hex(expected), alg.name);
    assert.equal(hex(ours.raw), hex(await subtle.exportKey("raw", mine)), alg.name);
  }
  const pair = await subtle.generateKey({ name: "RSA-OAEP", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["encrypt", "decrypt"]);
  const label = new TextEncoder().encode("label");
  const c = await subtle.encrypt({ name: "RSA-OAEP", label }, pair.publicKey, new TextEncoder().encode("secret"));
  const pkcs8 = new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey));
  const plain = await inGuest(
    context,
    `async (pkcs8, c, label) => {
      const k = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["decrypt"]);
      return new TextDecoder().decode(await crypto.subtle.decrypt({ name: "RSA-OAEP", label }, k, c));
    }`,
    pkcs8,
    new Uint8Array(c),
    label,
  );
  assert.equal(plain, "secret");
});

test("CompressionStream / DecompressionStream round trip every format", async ({ context }) => {
  const text = "hello hello hello compression ".repeat(50);
  for (const format of ["gzip", "deflate", "deflate-raw"]) {
    const result = await inGuest(
      context,
      `async (format, text) => {
        const compressed = await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream(format))).arrayBuffer();
        const back = await new Response(new Blob([compressed]).stream().pipeThrough(new DecompressionStream(format))).text();
        return { size: compressed.byteLength, back, compressed: new Uint8Array(compressed) };
      }`,
      format,
      text,
    );
    assert.equal(result.back, text, format);
    assert.ok(result.size < text.length / 4, `${format} compresses`);
    const inflate = { gzip: zlib.gunzipSync, deflate: zlib.inflateSync, "deflate-raw": zlib.inflateRawSync }[format];
    assert.equal(inflate(Buffer.from(result.compressed)).toString(), text);
  }
  assert.throws(() => vm.runInContext(`new CompressionStream("brotli")`, context), { name: "TypeError" });
});

// ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;
for (const { name, fn } of tests) {
  const env = createContext();
  try {
    await fn(env);
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n     ${err && err.stack ? err.stack.split("\n").slice(0, 6).join("\n     ") : err}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
