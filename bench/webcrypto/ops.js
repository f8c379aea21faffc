// The operations bench/webcrypto.sh times, the same code inside a function
// (function.js) and under Node (node.mjs): N operations in a loop on
// globalThis.crypto.subtle, timed with performance.now().
const subtle = globalThis.crypto.subtle;
const MESSAGE = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 0xff); // 1 KiB

/** Keys and inputs, made once, outside the timed loop. */
async function prepare(op) {
  if (op === "hmac-sha256-1k") {
    const key = await subtle.importKey("raw", new Uint8Array(32).fill(9), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return () => subtle.sign("HMAC", key, MESSAGE);
  }
  if (op === "es256-verify") {
    const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const data = new TextEncoder().encode('{"alg":"ES256"}.{"sub":"user-42","exp":1900000000}');
    const signature = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, data);
    return async () => {
      if (!(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pair.publicKey, signature, data))) throw new Error("verify failed");
    };
  }
  if (op === "sha256-1k") return () => subtle.digest("SHA-256", MESSAGE);
  throw new Error(`unknown op ${op}`);
}

/** `{op, n, ms, perSecond}` for `n` runs of `op` after a short warm-up. */
export async function run(op, n) {
  const once = await prepare(op);
  for (let i = 0; i < Math.min(50, n); i++) await once();
  const start = performance.now();
  for (let i = 0; i < n; i++) await once();
  const ms = performance.now() - start;
  return { op, n, ms: Math.round(ms * 10) / 10, perSecond: Math.round((n * 1000) / ms) };
}

export const OPS = ["hmac-sha256-1k", "es256-verify", "sha256-1k"];
