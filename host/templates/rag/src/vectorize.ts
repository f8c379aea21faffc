// Text → vector. This one hashes words and their pairs into DIMS buckets (a lexical embedding that
// needs no API key), so the project runs as it is. For semantic search, call an embedding model
// here instead — with the AI SDK: `(await embed({ model: openai.embedding("text-embedding-3-small"),
// value: text })).embedding` — set `dimensions` in pb_serverless.json to the model's, add its
// host to `allowed_hosts`, and bind the API key as a secret (see the ai-chat template).

export const DIMS = 256; // the `dimensions` of the `embedding` field in pb_serverless.json

function bucket(token: string): number {
  let h = 2166136261;
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 16777619);
  return (h >>> 0) % DIMS;
}

export async function vectorize(text: string): Promise<number[]> {
  const v = new Array<number>(DIMS).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  words.forEach((word, i) => {
    v[bucket(word)] += 1;
    if (i > 0) v[bucket(`${words[i - 1]} ${word}`)] += 0.5;
  });
  if (!v.some((x) => x !== 0)) v[0] = 1; // a zero vector has no direction
  return v;
}
