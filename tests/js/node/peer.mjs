// The Node side of the end-to-end tests in tests/tests/e2e/web.rs: the same
// WebCrypto vectors under Node, JWTs made and checked with `jose` on Node's
// WebCrypto, a Stripe test signature, and gzip with Node's zlib.
//
//   node node/peer.mjs vectors-compute
//   node node/peer.mjs vectors-check < cross.json
//   node node/peer.mjs jwt-issue
//   node node/peer.mjs jwt-verify < {"token", "jwk"}
//   node node/peer.mjs stripe-header SECRET < payload
//   node node/peer.mjs gzip|gunzip FORMAT < bytes
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import Stripe from "stripe";
import zlib from "node:zlib";
import { check, compute } from "../src/webcrypto_vectors.js";

const chunks = [];
if (!process.stdin.isTTY) for await (const chunk of process.stdin) chunks.push(chunk);
const input = Buffer.concat(chunks);
const print = (value) => process.stdout.write(typeof value === "string" ? value : JSON.stringify(value));
const [command, arg] = process.argv.slice(2);

switch (command) {
  case "vectors-compute":
    print(await compute());
    break;
  case "vectors-check":
    print(await check(JSON.parse(input.toString())));
    break;
  case "jwt-issue": {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "node-key-1", alg: "ES256", use: "sig" };
    const token = await new SignJWT({ scope: "read" })
      .setProtectedHeader({ alg: "ES256", kid: "node-key-1" })
      .setIssuer("node-peer")
      .setAudience("pbs")
      .setSubject("node-user")
      .setExpirationTime("10m")
      .sign(privateKey);
    print({ jwks: { keys: [jwk] }, token });
    break;
  }
  case "jwt-verify": {
    const { token, jwk } = JSON.parse(input.toString());
    const { payload } = await jwtVerify(token, await importJWK(jwk, jwk.alg));
    print(payload);
    break;
  }
  case "stripe-header":
    print(new Stripe("sk_test_pbs_placeholder").webhooks.generateTestHeaderString({ payload: input.toString(), secret: arg }));
    break;
  case "gzip":
  case "gunzip": {
    const fns = {
      gzip: { gzip: zlib.gzipSync, deflate: zlib.deflateSync, "deflate-raw": zlib.deflateRawSync },
      gunzip: { gzip: zlib.gunzipSync, deflate: zlib.inflateSync, "deflate-raw": zlib.inflateRawSync },
    };
    process.stdout.write(fns[command][arg ?? "gzip"](input));
    break;
  }
  default:
    console.error(`unknown command ${command}`);
    process.exit(2);
}
