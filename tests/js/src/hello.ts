// The smallest JS function: the benchmark's JS hello and the first e2e test.
export default {
  fetch(_req: Request): Response {
    return new Response("hello from js\n", { headers: { "content-type": "text/plain" } });
  },
};
