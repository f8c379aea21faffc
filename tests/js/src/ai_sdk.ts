// The Vercel AI SDK (`ai` v6 + `@ai-sdk/openai`) unmodified, against an
// OpenAI-compatible server whose base URL the request gives.
import { generateText, streamText, tool, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { z } from "zod";

type Ask = { baseURL: string; prompt: string };

function model(baseURL: string) {
  return createOpenAI({ baseURL, apiKey: "sk-test" }).chat("gpt-test");
}

const weather = tool({
  description: "The weather in a city",
  inputSchema: z.object({ city: z.string().min(1) }),
  execute: async ({ city }) => ({ city, celsius: 21 }),
});

export async function POST(req: Request): Promise<Response> {
  const { baseURL, prompt } = (await req.json()) as Ask;
  const route = new URL(req.url).pathname.split("/").pop();
  if (route === "generate") {
    const result = await generateText({ model: model(baseURL), prompt });
    return Response.json({ text: result.text, usage: result.usage, finishReason: result.finishReason });
  }
  if (route === "stream") {
    const result = streamText({ model: model(baseURL), prompt });
    return result.toTextStreamResponse();
  }
  if (route === "tool") {
    const result = await generateText({
      model: model(baseURL),
      prompt,
      tools: { weather },
      stopWhen: stepCountIs(3),
    });
    const parts = result.steps.flatMap((s) => s.content);
    return Response.json({
      text: result.text,
      calls: parts.filter((p) => p.type === "tool-call").map((p: any) => ({ name: p.toolName, input: p.input, invalid: !!p.invalid })),
      results: parts.filter((p) => p.type === "tool-result").map((p: any) => p.output),
      errors: parts.filter((p) => p.type === "tool-error").map((p: any) => String(p.error?.message ?? p.error)),
    });
  }
  return new Response("unknown route", { status: 404 });
}
