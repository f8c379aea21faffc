// `jose`, unmodified: JWTs signed and verified with HS256, RS256, ES256 and
// EdDSA on crypto.subtle; a token checked against a JWKS document fetched
// from a URL; and a token issued here for another implementation to verify.
import { SignJWT, createRemoteJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";
import type { JWK } from "jose";

// A fixed RSA key (RSA key generation is slow in an interpreter, and not
// what this test is about). Test material, not a secret.
import { RSA_TEST_JWK } from "./jose_rsa_key.js";

async function keysFor(alg: string): Promise<{ sign: any; verify: any }> {
  switch (alg) {
    case "HS256": {
      const secret = crypto.getRandomValues(new Uint8Array(32));
      return { sign: secret, verify: secret };
    }
    case "RS256": {
      const { d, dp, dq, p, q, qi, ...pub } = RSA_TEST_JWK as JWK;
      return { sign: await importJWK(RSA_TEST_JWK as JWK, "RS256"), verify: await importJWK(pub, "RS256") };
    }
    default: {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      return { sign: privateKey, verify: publicKey };
    }
  }
}

export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const route = url.pathname.split("/").pop();
  if (route === "roundtrip") {
    const results: Record<string, unknown> = {};
    for (const alg of ["HS256", "RS256", "ES256", "EdDSA"]) {
      const { sign, verify } = await keysFor(alg);
      const token = await new SignJWT({ role: "admin" })
        .setProtectedHeader({ alg })
        .setSubject("user-42")
        .setIssuedAt()
        .setExpirationTime("2h")
        .sign(sign);
      const { payload, protectedHeader } = await jwtVerify(token, verify);
      // Flip one character of the signature: verification must fail.
      const [h, p, s] = token.split(".");
      const forged = `${h}.${p}.${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
      const rejected = await jwtVerify(forged, verify).then(
        () => "accepted",
        (e: any) => e.code ?? String(e),
      );
      results[alg] = { sub: payload.sub, role: payload.role, alg: protectedHeader.alg, forged: rejected };
    }
    return Response.json(results);
  }
  if (route === "remote") {
    // ?jwks=<url of a JWKS document>&token=<JWT>
    const jwks = createRemoteJWKSet(new URL(url.searchParams.get("jwks")!));
    try {
      const { payload, protectedHeader } = await jwtVerify(url.searchParams.get("token")!, jwks, {
        issuer: "node-peer",
        audience: "pbs",
      });
      return Response.json({ ok: true, sub: payload.sub, kid: protectedHeader.kid });
    } catch (e: any) {
      return Response.json({ ok: false, code: e.code, message: String(e.message) }, { status: 401 });
    }
  }
  if (route === "issue") {
    // A token for another implementation to verify with the public JWK.
    const alg = url.searchParams.get("alg") ?? "ES256";
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const token = await new SignJWT({ from: "pbs" }).setProtectedHeader({ alg }).setSubject("engine").sign(privateKey);
    return Response.json({ token, jwk: { ...(await exportJWK(publicKey)), alg } });
  }
  return new Response("not found", { status: 404 });
}
