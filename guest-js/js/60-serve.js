// The entry points Rust calls into the user's module (BRIDGE.md):
// `__pbsInternal.serve(request)` for each HTTP invocation and
// `__pbsInternal.runExport(name, args)` for jobs, cron ticks and hooks.
//
// A module answers HTTP either with `export default { fetch(request, env, ctx) }`
// or with one export per method (`export function GET(request, env, ctx)` …).
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const internal = globalThis.__pbsInternal;
  const encoder = new TextEncoder();

  const METHOD_EXPORTS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
  // Connection-level headers (RFC 9110 §7.6.1): they describe the upstream
  // connection of a proxied `fetch` response, not ours, and wasi-http
  // refuses them in a response.
  const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

  /** `Name: message` for an Error, `String(value)` for anything else thrown. */
  function errorText(err) {
    if (typeof err?.message === "string") return `${err.name ?? "Error"}: ${err.message}`;
    try {
      return String(err);
    } catch {
      return "an error that cannot be converted to a string";
    }
  }

  /** The JSON error body PocketBase's own API uses. */
  function errorBody(status, message) {
    return JSON.stringify({ status, message, data: {} });
  }

  /** The incoming request as a Request whose body streams from the host. */
  function incomingRequest({ method, url, headers, body }) {
    const canHaveBody = method !== "GET" && method !== "HEAD";
    if (body !== null && body !== undefined && !canHaveBody) pbs.close(body);
    const hasBody = body !== null && body !== undefined && canHaveBody;
    return internal.makeIncomingRequest(
      method,
      url,
      internal.headersFromHost(headers),
      // No signal for the client going away yet: the stream gets one that never aborts.
      hasBody ? internal.hostBodyStream(body, new AbortController().signal) : null,
    );
  }

  // The methods of `ctx`, shared by every request's (they keep no state).
  // Nothing to keep for waitUntil: the invocation lasts until the event loop
  // is idle, so whatever the promise waits on (fetches, timers) holds it open.
  function waitUntil(promise) {
    Promise.resolve(promise).catch((err) => internal.reportError(err, "a ctx.waitUntil promise rejected"));
  }
  function passThroughOnException() {}

  /** The `ctx` of `fetch(request, env, ctx)`, as on Cloudflare Workers. */
  function executionContext() {
    return { waitUntil, passThroughOnException };
  }

  /** Methods the module exports handlers for, as the `Allow` header lists them. */
  function allowedMethods(module) {
    const methods = METHOD_EXPORTS.filter((method) => typeof module[method] === "function");
    if (methods.includes("GET") && !methods.includes("HEAD")) methods.splice(1, 0, "HEAD");
    return methods;
  }

  function methodNotAllowed(module) {
    return new Response(errorBody(405, "Method Not Allowed"), {
      status: 405,
      headers: { "allow": allowedMethods(module).join(", "), "content-type": "application/json" },
    });
  }

  /** Calls the module's handler; returns what it returns (a Response or a promise of one). */
  function dispatch(request) {
    const module = internal.module ?? {};
    const env = {};
    const ctx = executionContext();
    if (typeof module.default?.fetch === "function") return module.default.fetch(request, env, ctx);
    const method = request.method;
    // Only the method names: a request must not reach any other export.
    let handler = METHOD_EXPORTS.includes(method) ? module[method] : undefined;
    // HEAD falls back to GET; `send` drops the body of every HEAD response.
    if (handler === undefined && method === "HEAD") handler = module.GET;
    if (typeof handler !== "function") return methodNotAllowed(module);
    return handler(request, env, ctx);
  }

  /** A body chunk as bytes: strings are UTF-8 encoded. */
  function chunkBytes(chunk) {
    if (chunk instanceof Uint8Array) return chunk;
    if (typeof chunk === "string") return encoder.encode(chunk);
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    throw new TypeError(`a response body chunk must be a string or bytes, not ${typeof chunk}`);
  }

  /**
   * Sends `response` through respond/write/finish, one write per chunk the
   * body yields, so a streamed body reaches the client as it is produced.
   * `sent.token` is set once the status and headers are out. Known bytes (a
   * string, JSON, an ArrayBuffer …) go out in one write at once, and nothing
   * is returned; a stream returns the promise of its end.
   */
  function send(response, method, sent) {
    if (response.type === "error") throw new TypeError("the handler returned Response.error()");
    const headers = internal.headerList(response.headers).filter(([name]) => !HOP_BY_HOP.has(name));
    sent.token = pbs.respond(response.status, headers);
    const bytes = internal.takeKnownBytes(response);
    if (bytes === undefined && response.body !== null) return sendStream(response.body, method, sent.token);
    if (bytes !== undefined && method !== "HEAD" && bytes.length > 0) pbs.write(sent.token, bytes);
    pbs.finish(sent.token);
    return undefined;
  }

  async function sendStream(body, method, token) {
    if (method === "HEAD") await body.cancel();
    else await writeBody(body, token);
    pbs.finish(token);
  }

  async function writeBody(body, token) {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      const bytes = chunkBytes(value);
      try {
        pbs.write(token, bytes);
      } catch (err) {
        // The client went away: not the function's fault, so no error log.
        pbs.log("info", `the response body was not fully sent: ${err.message}`);
        await reader.cancel(err);
        return;
      }
    }
  }

  /** 500 with the PocketBase-style JSON error body. */
  function sendServerError(err) {
    const token = pbs.respond(500, [["content-type", "application/json"]]);
    pbs.write(token, encoder.encode(errorBody(500, internal.redactSecrets(errorText(err)))));
    pbs.finish(token);
  }

  /** A handler's answer that is not a Response: a TypeError. */
  function checkResponse(response, method) {
    if (response instanceof Response) return response;
    const what = response === null ? "null" : typeof response;
    throw new TypeError(`the ${method} handler returned ${what}, not a Response`);
  }

  // A handler that returns a Response (not a promise of one) is answered
  // before `serve` returns: no promise, no job, no turn of the event loop,
  // which is most of what a small synchronous handler's request cost in
  // JS. A promise is awaited as before; either way a failure, thrown or
  // rejected, reaches `failed`.
  internal.serve = function serve(incoming) {
    const sent = { token: null };
    const failed = (err) => {
      internal.reportError(err, `${incoming.method} ${incoming.url}`);
      try {
        // Once the head is out the status cannot change: abort the body, so
        // the client sees a cut stream rather than a short complete one.
        if (sent.token === null) sendServerError(err);
        else pbs.close(sent.token);
      } catch (sendErr) {
        internal.reportError(sendErr, "sending the error response failed");
      }
    };
    try {
      const request = incomingRequest(incoming);
      const method = request.method;
      const answer = dispatch(request);
      if (answer instanceof Response) {
        const streaming = send(answer, method, sent);
        return streaming === undefined ? undefined : streaming.catch(failed);
      }
      return Promise.resolve(answer)
        .then((response) => send(checkResponse(response, incoming.method), method, sent))
        .catch(failed);
    } catch (err) {
      failed(err);
      return undefined;
    }
  };

  /** Calls the export `name` with `args`; returns what it returns. */
  function callExport(name, args) {
    const handler = internal.module?.[name];
    if (typeof handler !== "function") throw new TypeError(`the module has no exported function ${JSON.stringify(name)}`);
    return handler(...args);
  }

  // Jobs and cron ticks: the promise of what the export returns (a throw
  // rejects it, as from an async function).
  internal.runExport = function runExport(name, args) {
    try {
      return Promise.resolve(callExport(name, args));
    } catch (err) {
      return Promise.reject(err);
    }
  };

  function hookRejected(err) {
    return "reject:" + internal.redactSecrets(typeof err?.message === "string" ? err.message : errorText(err));
  }

  function hookSettled(value) {
    if (value === undefined || value === null) return "keep";
    return "replace:" + JSON.stringify(value);
  }

  // A record hook `export function name(record, ctx)`: returning a record
  // (an object) writes that instead; returning nothing keeps the record;
  // throwing refuses the write, and the client sees the error's message.
  // Settles to "keep", "replace:" + the record's JSON, or "reject:" + the
  // message (read as text by the engine, guest-js/src/handlers.rs). A hook
  // that returns without a promise gives a promise already settled: no
  // job, no await.
  internal.runHook = function runHook(name, args) {
    let value;
    try {
      value = callExport(name, args);
    } catch (err) {
      return Promise.resolve(hookRejected(err));
    }
    if (typeof value?.then === "function") return Promise.resolve(value).then(hookSettled, hookRejected);
    try {
      return Promise.resolve(hookSettled(value));
    } catch (err) {
      return Promise.reject(err);
    }
  };
})();
