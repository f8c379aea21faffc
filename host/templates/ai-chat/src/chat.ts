// POST /api/pb_serverless/chat  {"prompt": "…"} or {"messages": [{"role": "user", "content": "…"}]}
// Streams the model's answer as plain text, chunk by chunk, with the AI SDK.
//
// The API key never enters the function: the request carries the placeholder
// `{{secret:OPENAI_API_KEY}}` and the host puts the secret in on the way out, only towards the
// hosts the manifest binds it to (pb_serverless.json: `secrets`, and `allowed_hosts`).
import { streamText, type ModelMessage } from "ai";
import { createOpenAI } from "@ai-sdk/openai";

// Any OpenAI-compatible API: change BASE_URL here and its host in pb_serverless.json.
const BASE_URL = "https://api.openai.com/v1";
const MODEL = "gpt-4o-mini";

const openai = createOpenAI({ baseURL: BASE_URL, apiKey: "{{secret:OPENAI_API_KEY}}" });

export async function POST(req: Request): Promise<Response> {
  const body = await req.json().catch(() => null);
  const messages: ModelMessage[] | undefined = Array.isArray(body?.messages)
    ? body.messages
    : typeof body?.prompt === "string"
      ? [{ role: "user", content: body.prompt }]
      : undefined;
  if (!messages?.length) {
    return Response.json(
      { status: 400, message: 'send {"prompt": "…"} or {"messages": [{"role": "user", "content": "…"}]}', data: {} },
      { status: 400 },
    );
  }
  const result = streamText({
    model: openai.chat(MODEL),
    system: "You are a helpful assistant. Answer briefly.",
    messages,
    onError: ({ error }) => console.error("the model failed:", error),
  });
  return result.toTextStreamResponse();
}
