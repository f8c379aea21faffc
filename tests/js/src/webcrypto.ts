// The WebCrypto vectors (./webcrypto_vectors.js) inside the engine:
// GET → compute(), POST {cross} → check(cross). The same module runs under
// Node (node/peer.mjs) and tests/tests/e2e/web.rs compares the two.
import { check, compute } from "./webcrypto_vectors.js";

export default {
  async fetch(req: Request): Promise<Response> {
    if (req.method === "POST") return Response.json(await check(await req.json()));
    return Response.json(await compute());
  },
};
