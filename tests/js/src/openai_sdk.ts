// The `openai` npm SDK unmodified: a streamed chat completion.
import OpenAI from "openai";

export async function POST(req: Request): Promise<Response> {
  const { baseURL, prompt } = (await req.json()) as { baseURL: string; prompt: string };
  const client = new OpenAI({ baseURL, apiKey: "sk-test" });
  const stream = await client.chat.completions.create({
    model: "gpt-test",
    messages: [{ role: "user", content: prompt }],
    stream: true,
  });
  const deltas: string[] = [];
  for await (const chunk of stream) {
    const text = chunk.choices[0]?.delta?.content;
    if (text) deltas.push(text);
  }
  return Response.json({ text: deltas.join(""), chunks: deltas.length });
}
