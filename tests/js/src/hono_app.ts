// `hono`, unmodified, as the router of a function: routes with params and
// wildcards, middleware around every route, JSON bodies, a streamed
// response, and hono's compress middleware (which uses CompressionStream).
import { Hono } from "hono";
import { compress } from "hono/compress";
import { streamText } from "hono/streaming";

const app = new Hono().basePath("/api/pb_serverless/hono");

app.use("*", async (c, next) => {
  c.set("started" as never, Date.now() as never);
  await next();
  c.res.headers.set("x-middleware", "ran");
});

app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null }));
app.get("/posts/:year{[0-9]{4}}/:slug", (c) => c.json(c.req.param()));
app.get("/files/*", (c) => c.text(`file ${c.req.path.replace("/api/pb_serverless/hono/files/", "")}`));
app.post("/echo", async (c) => c.json({ echo: await c.req.json() }, 201));
app.get("/stream", (c) =>
  streamText(c, async (stream) => {
    for (let i = 0; i < 3; i++) {
      await stream.writeln(`line ${i}`);
      await stream.sleep(20);
    }
  }),
);
app.get("/big", compress(), (c) => c.text("hono compress ".repeat(2000)));
app.notFound((c) => c.json({ error: "no route", path: c.req.path }, 404));

export default app;
