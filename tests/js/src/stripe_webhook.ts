// The `stripe` package, unmodified: a webhook endpoint checks the
// `Stripe-Signature` header (HMAC-SHA256 through crypto.subtle) before it
// trusts the event.
import Stripe from "stripe";

// The test's endpoint secret (the test signs with the same value).
const ENDPOINT_SECRET = "whsec_pbs_test_secret";
const stripe = new Stripe("sk_test_pbs_placeholder", { httpClient: Stripe.createFetchHttpClient() });
const cryptoProvider = Stripe.createSubtleCryptoProvider();

export async function POST(req: Request): Promise<Response> {
  const body = await req.text();
  const signature = req.headers.get("stripe-signature") ?? "";
  try {
    const event = await stripe.webhooks.constructEventAsync(body, signature, ENDPOINT_SECRET, undefined, cryptoProvider);
    return Response.json({ ok: true, id: event.id, type: event.type });
  } catch (e: any) {
    return Response.json({ ok: false, error: e.type ?? e.name, message: e.message }, { status: 400 });
  }
}
