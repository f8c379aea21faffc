// WebCrypto vectors run twice — inside the engine (`webcrypto.ts`, deployed
// as a function) and under Node (`node/peer.mjs vectors …`) — by the
// end-to-end test tests/tests/e2e/web.rs, which requires both to agree.
// `compute()` gives the results that must be equal byte for byte (digests,
// MACs, ciphers with fixed IVs, KDFs, key agreement, deterministic
// signatures, key exports) and, under `cross`, what the other side must
// check (randomised signatures and ciphertexts, PKCS #8 documents).
// Plain JS (no TypeScript) so that Node imports it as it is.

// Test keys (made once with Node's crypto for these tests; not secret).
const RSA_JWK = {"kty":"RSA","n":"rfyzsuP_BvqKGpKd0uI-E1Bd4ngOz_k1LQOxK8vELBe45miroSq37JudcPX21aGQWYKm-sY0h7gI0jgxnQAGADmrjUj-YKM8Xk1rK7onfV0_XS8t1sM1ONGdtX1QxlZiYUJbXlVVNbQI7OHJ6xFhPgjjMckbkg4G7deBef-4n6G_6DAD6yqrtgDqa93t078LgVUAbV1yQVkYA9V0GkSSJRt81v1DmcaTp1zDgSQKze3iODWORzrUgvRkaxdyy3BPAE00ttcNL4stXHse5pQfMQSm-QDoMDxMl75ORCVXaoofg_zGMscKXoC6OR85i7bICcRQDqbX2hdNMuqdTKwddw","e":"AQAB","d":"QLY-Qhmh978E0chZkh-a9gUMvlhoLftjR1hZs8_oqXuzRmOE_n9MhGEGyIZ7Zc7fSSOapqhEznvpMAM9lMb29Gt-vqB5GIluQSbrZwqoeGzPzgFnu7rEV1tDnMa83eAwXDtZj3cOp9hL_4slVlyS_gdBNXm22vaDpj_jBPTTfu-FqlE5jHNPfb0CYAaaNGwxwedwhjULXOO0Wqlf3IXp9p9q895n1bjp1tBO_bt2P28pBzjpnnvFuw1Z-GzmWLvIzxpXLqszD3-6Y_MvruyeSqDyYt_0ADxTVgWIFG40bSZxaqDcy_9qlTYeBmTeeGAXjmndF1FEbS07rBjknYuwnQ","p":"3Z9FNc6jGdxe56DIIETTbswr5K8DtR7VpKzSGchpdmjbn7P7QliSHkMkl26d1Nb0z_RmAes-02Qe-9v0PSZFuS5bEAmS8lLaAXsbqBdmFvxDRmNDqKY4pwZiahNo3u4R4hthu9gDVkc3ZpbDcGkQD1OuA_gCr_OdNejBEabJe3U","q":"yPnR5nQ8dSGFfD9R9T8Tys_bAM8Jvd7ktdI4EFj35TpPdtnzIaXaAE280vmqavifbc9RvggA5W7O4uCIN-F63rfUiL4727GQ_6XZnDpebgt1KAVpk8l3TECPflwpElo2X6qhhsRPkqp4MOG_H6Kokha9tblzO71lMrk-tJuYU7s","dp":"cbez77QkBLULDZd2mPg39XZWX3VeVaWIwoLbG9e2JcgQSZY0qwp_j3-sWverjPbvj3U8kmd_SUDqlRl77ZSh2i9rEoOXHzhcHL5qpom7HLg8XPW6VeNU1n90KDHlcd5-1qJuN9DThYXta3qYtily0CqD9A1ic55xYKQZzVDjubE","dq":"sOvjUOmQc1iQJyGi56-gn9C9LYgVPlWip0EpY5K-n8fmPm19cGiNcej9SgjJciPuTX_NqOloyJD0hZs9r1vKi5fu_HXjQfKd_7-jwrlLebqSZynkmFopsDHBYG6HJYXPCgau7XGRzz5MUlPYqWPK29gzJ2_bNoLzPGUBA4NZ5JM","qi":"bOOecxUXoRYd40pgfJNvMmMx8OdLwe8KgP9Dr9-n7ntTL1Oek1d_LmQ8C8fBQjKmJDfY0JSe-DmByAFIbA8Sln-tblz9Tu1xVLIw1dRjaqJdmq8LjpC-rDGRqYPe8ZK3_mZxmR4ZqBz99wTYRn_ym98oEGUjTIq3THNNNGEDrGI"};
const P256_A = {"kty":"EC","x":"qd9d0ri1-cbWKGqldCFkq7Y85jwIl5gRvB6DsDRN2Fo","y":"SVy6UJD0qGJoJ53EFS6dHh2b3-l_oYxdxz-tADCnGuU","crv":"P-256","d":"mevwQeNACviKCFhSzwF1FqcLpw7M8DVXXzL4gkJxcCk"};
const P256_B = {"kty":"EC","x":"64V1Dit7VTgtaXafARFDNOHkg6Qs46H2UHkHltL4Ml8","y":"n2yF49UK_dSbtbLcgIuGPlJsmMcFZCnA60MEUu5QkoQ","crv":"P-256","d":"j8QbewjPWyN2j7ZmKq2ZnTq2uu5h_1S-SU4fDO6UXqI"};
const P384_A = {"kty":"EC","x":"G7u9JQvOF7LpFMdSfAq-K3cZSMkU90cWYY3L1I952oIoC6SBt3uqALa0RMa3MkCb","y":"ryOkzuJJ9-exntg8lPL9m_nx9_zEAM4S-NFPbQEwFkxDMcy8CF2xAKCLi7OSNf-8","crv":"P-384","d":"5ST8r62d9Fvn2ypV2VbjkFkhtz5X1N4AH9JmFrbvcwbdPHkQ1ISyCfcKgOJ0hElW"};
const P384_B = {"kty":"EC","x":"IQNOQZNl0b5Vqn7iwvP1f27g0QFecTMDqHXrOqyogXnRCn85gAInR_2oXElX18CM","y":"3P6b8KcVjvmIgiT-yW4i4iq4jsQwJW0jWc988iQWZu760OQeVprAnWVRViX8WKE3","crv":"P-384","d":"FxJ8OESiBkr2XcqChMd2t5qLG2xv1J8pc_G0Bk9bIiijCC7kRvDCLLgNTXe63e6t"};
// RFC 8032 §7.1 test 1 (Ed25519) and RFC 7748 §6.1 (X25519).
const ED25519_JWK = {
  kty: "OKP",
  crv: "Ed25519",
  d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
  x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
};
const X25519_A = { kty: "OKP", crv: "X25519", d: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo", x: "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo" };
const X25519_B = { kty: "OKP", crv: "X25519", d: "XasIfmJKikt54X-Lg4AO5m87sSkmGLb9HC-LJ_-I4Os", x: "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08" };

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const hex = (buf) => Array.from(new Uint8Array(ArrayBuffer.isView(buf) ? buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) : buf), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const pub = ({ d, dp, dq, p, q, qi, ...rest }) => rest;
const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
const INPUTS = { empty: new Uint8Array(0), abc: enc.encode("abc"), kib: bytes(1024, 7), odd: bytes(1001, 3) };

export async function compute() {
  const out = {};
  const put = (name, value) => (out[name] = value instanceof ArrayBuffer || ArrayBuffer.isView(value) ? hex(value) : value);

  for (const h of HASHES) for (const [n, data] of Object.entries(INPUTS)) put(`digest ${h} ${n}`, await subtle.digest(h, data));

  for (const h of HASHES) {
    const key = await subtle.importKey("raw", bytes(40, 1), { name: "HMAC", hash: h }, true, ["sign", "verify"]);
    const sig = await subtle.sign("HMAC", key, INPUTS.kib);
    put(`hmac ${h}`, sig);
    put(`hmac ${h} verifies`, await subtle.verify("HMAC", key, sig, INPUTS.kib));
    put(`hmac ${h} rejects`, await subtle.verify("HMAC", key, sig, INPUTS.abc));
    put(`hmac ${h} jwk`, await subtle.exportKey("jwk", key));
  }

  for (const bits of [128, 192, 256]) {
    const raw = bytes(bits / 8, bits);
    for (const [name, params] of [
      ["AES-GCM", { iv: bytes(12, 5), additionalData: enc.encode("aad") }],
      ["AES-GCM", { iv: bytes(12, 6), tagLength: 96 }],
      ["AES-CBC", { iv: bytes(16, 9) }],
      ["AES-CTR", { counter: bytes(16, 11), length: 128 }],
      ["AES-CTR", { counter: unhex("00000000000000000000000000fffffe"), length: 24 }],
    ]) {
      const key = await subtle.importKey("raw", raw, name, true, ["encrypt", "decrypt"]);
      const algorithm = { name, ...params };
      const label = `${name}-${bits} ${Object.keys(params).join(",")} ${params.tagLength ?? params.length ?? ""}`;
      const ciphertext = await subtle.encrypt(algorithm, key, INPUTS.odd);
      put(`encrypt ${label}`, ciphertext);
      put(`decrypt ${label}`, hex(await subtle.decrypt(algorithm, key, ciphertext)) === hex(INPUTS.odd));
      put(`jwk ${label}`, await subtle.exportKey("jwk", key));
    }
    const kek = await subtle.importKey("raw", raw, "AES-KW", false, ["wrapKey", "unwrapKey"]);
    const inner = await subtle.importKey("raw", bytes(32, 2), { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
    put(`AES-KW-${bits} wrap`, await subtle.wrapKey("raw", inner, kek, "AES-KW"));
  }

  const password = await subtle.importKey("raw", enc.encode("correct horse battery staple"), "PBKDF2", false, ["deriveBits", "deriveKey"]);
  for (const h of HASHES) {
    put(`pbkdf2 ${h}`, await subtle.deriveBits({ name: "PBKDF2", hash: h, salt: bytes(16, 4), iterations: 1000 }, password, 256));
  }
  const derived = await subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt: bytes(8, 1), iterations: 10 }, password, { name: "AES-GCM", length: 256 }, true, ["encrypt"]);
  put("pbkdf2 deriveKey AES-GCM", await subtle.exportKey("raw", derived));
  const ikm = await subtle.importKey("raw", bytes(22, 11), "HKDF", false, ["deriveBits"]);
  for (const h of HASHES) {
    put(`hkdf ${h}`, await subtle.deriveBits({ name: "HKDF", hash: h, salt: bytes(13, 0), info: bytes(10, 0xf0) }, ikm, 336));
  }

  for (const [curve, a, b] of [["P-256", P256_A, P256_B], ["P-384", P384_A, P384_B]]) {
    const alg = { name: "ECDH", namedCurve: curve };
    const privA = await subtle.importKey("jwk", a, alg, true, ["deriveBits"]);
    const pubB = await subtle.importKey("jwk", pub(b), alg, true, []);
    put(`ecdh ${curve}`, await subtle.deriveBits({ name: "ECDH", public: pubB }, privA, null));
    put(`ecdh ${curve} 128 bits`, await subtle.deriveBits({ name: "ECDH", public: pubB }, privA, 128));
    put(`ecdh ${curve} spki`, await subtle.exportKey("spki", pubB));
    put(`ecdh ${curve} raw`, await subtle.exportKey("raw", pubB));
    put(`ecdh ${curve} jwk`, await subtle.exportKey("jwk", privA));
    const ecdsaPub = await subtle.importKey("spki", unhex(out[`ecdh ${curve} spki`]), { name: "ECDSA", namedCurve: curve }, true, ["verify"]);
    put(`ecdsa ${curve} imported jwk`, await subtle.exportKey("jwk", ecdsaPub));
  }
  const xa = await subtle.importKey("jwk", X25519_A, "X25519", true, ["deriveBits"]);
  const xb = await subtle.importKey("jwk", pub(X25519_B), "X25519", true, []);
  put("x25519", await subtle.deriveBits({ name: "X25519", public: xb }, xa, 256));
  put("x25519 spki", await subtle.exportKey("spki", xb));

  const ed = await subtle.importKey("jwk", ED25519_JWK, "Ed25519", true, ["sign"]);
  const edPub = await subtle.importKey("jwk", pub(ED25519_JWK), "Ed25519", true, ["verify"]);
  const edSig = await subtle.sign("Ed25519", ed, new Uint8Array(0));
  put("ed25519 sign (RFC 8032 test 1)", edSig);
  put("ed25519 verify", await subtle.verify("Ed25519", edPub, edSig, new Uint8Array(0)));
  put("ed25519 spki", await subtle.exportKey("spki", edPub));
  put("ed25519 raw", await subtle.exportKey("raw", edPub));

  for (const h of HASHES) {
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: h };
    const priv = await subtle.importKey("jwk", RSA_JWK, alg, true, ["sign"]);
    const pubKey = await subtle.importKey("jwk", pub(RSA_JWK), alg, true, ["verify"]);
    const sig = await subtle.sign("RSASSA-PKCS1-v1_5", priv, INPUTS.kib);
    put(`rsassa ${h}`, sig);
    put(`rsassa ${h} verify`, await subtle.verify("RSASSA-PKCS1-v1_5", pubKey, sig, INPUTS.kib));
  }
  const rsaPub = await subtle.importKey("jwk", pub(RSA_JWK), { name: "RSA-PSS", hash: "SHA-256" }, true, ["verify"]);
  put("rsa spki", await subtle.exportKey("spki", rsaPub));
  put("rsa algorithm", { ...rsaPub.algorithm, publicExponent: hex(rsaPub.algorithm.publicExponent) });

  return { deterministic: out, cross: await crossOut() };
}

/** Randomised outputs for the other side to check. */
async function crossOut() {
  const cross = {};
  for (const [curve, jwk, hash] of [["P-256", P256_A, "SHA-256"], ["P-384", P384_A, "SHA-384"]]) {
    const key = await subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: curve }, true, ["sign"]);
    cross[`ecdsa ${curve}`] = hex(await subtle.sign({ name: "ECDSA", hash }, key, INPUTS.kib));
    cross[`ecdsa ${curve} pkcs8`] = hex(await subtle.exportKey("pkcs8", key));
  }
  const pss = await subtle.importKey("jwk", RSA_JWK, { name: "RSA-PSS", hash: "SHA-256" }, true, ["sign"]);
  cross["rsa-pss"] = hex(await subtle.sign({ name: "RSA-PSS", saltLength: 32 }, pss, INPUTS.kib));
  cross["rsa pkcs8"] = hex(await subtle.exportKey("pkcs8", pss));
  const oaep = await subtle.importKey("jwk", pub(RSA_JWK), { name: "RSA-OAEP", hash: "SHA-256" }, true, ["encrypt"]);
  cross["rsa-oaep"] = hex(await subtle.encrypt({ name: "RSA-OAEP", label: enc.encode("label") }, oaep, INPUTS.abc));
  const gen = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  cross["generated ecdsa spki"] = hex(await subtle.exportKey("spki", gen.publicKey));
  cross["generated ecdsa sig"] = hex(await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, gen.privateKey, INPUTS.abc));
  const ed = await subtle.generateKey("Ed25519", true, ["sign", "verify"]);
  cross["generated ed25519 spki"] = hex(await subtle.exportKey("spki", ed.publicKey));
  cross["generated ed25519 sig"] = hex(await subtle.sign("Ed25519", ed.privateKey, INPUTS.abc));
  return cross;
}

/** Checks the other side's `cross`; every value must be true. */
export async function check(cross) {
  const ok = {};
  for (const [curve, hash] of [["P-256", "SHA-256"], ["P-384", "SHA-384"]]) {
    const jwk = curve === "P-256" ? P256_A : P384_A;
    const alg = { name: "ECDSA", namedCurve: curve };
    const key = await subtle.importKey("jwk", pub(jwk), alg, false, ["verify"]);
    ok[`ecdsa ${curve} verifies`] = await subtle.verify({ name: "ECDSA", hash }, key, unhex(cross[`ecdsa ${curve}`]), INPUTS.kib);
    const imported = await subtle.importKey("pkcs8", unhex(cross[`ecdsa ${curve} pkcs8`]), alg, true, ["sign"]);
    ok[`ecdsa ${curve} pkcs8 is the key`] = (await subtle.exportKey("jwk", imported)).d === jwk.d;
  }
  const pss = await subtle.importKey("jwk", pub(RSA_JWK), { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
  ok["rsa-pss verifies"] = await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pss, unhex(cross["rsa-pss"]), INPUTS.kib);
  const rsaPkcs8 = await subtle.importKey("pkcs8", unhex(cross["rsa pkcs8"]), { name: "RSA-PSS", hash: "SHA-256" }, true, ["sign"]);
  ok["rsa pkcs8 is the key"] = (await subtle.exportKey("jwk", rsaPkcs8)).d === RSA_JWK.d;
  const oaep = await subtle.importKey("jwk", RSA_JWK, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["decrypt"]);
  const plain = await subtle.decrypt({ name: "RSA-OAEP", label: enc.encode("label") }, oaep, unhex(cross["rsa-oaep"]));
  ok["rsa-oaep decrypts"] = hex(plain) === hex(INPUTS.abc);
  const genEc = await subtle.importKey("spki", unhex(cross["generated ecdsa spki"]), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  ok["generated ecdsa verifies"] = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, genEc, unhex(cross["generated ecdsa sig"]), INPUTS.abc);
  const genEd = await subtle.importKey("spki", unhex(cross["generated ed25519 spki"]), "Ed25519", false, ["verify"]);
  ok["generated ed25519 verifies"] = await subtle.verify("Ed25519", genEd, unhex(cross["generated ed25519 sig"]), INPUTS.abc);
  return ok;
}
