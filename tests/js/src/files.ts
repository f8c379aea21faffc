// pb.files from JS, for the conformance suite (tests/tests/e2e/files.rs) and
// the benchmark (tests/benches/files.rs).
//
// POST with a JSON body runs one call: {op, collection, record, filename?,
// data?, as?} → {ok: result} or {error: {name, code, message}}.
//   op "save": `data` is a string; `as` picks how it reaches pb.files.save:
//     "string" (default), "buffer" (ArrayBuffer of its UTF-8), "bytes"
//     (Uint8Array), "view" (a Uint8Array over part of a larger buffer),
//     "u16" (Uint16Array over the UTF-8, padded to even length), "blob",
//     "none" (no data: a TypeError), "fill:N" (N bytes, value i % 251).
//   op "read": → {text, size, isArrayBuffer, sha} (text: UTF-8, lossy).
//   op "delete" → bool; op "list" → [{filename, size, modifiedMs}].
//
// GET /bench?op=save|savenew|read&n=N&kb=K: N calls in one invocation on a
// K KiB file (savenew: a new name each time, deleted again after the run)
// → {n, bytes, us: [per call, µs]} (the benchmark).


function payload(data: string, as: string): unknown {
  const utf8 = new TextEncoder().encode(data);
  if (as.startsWith("fill:")) {
    const n = Number(as.slice(5));
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = i % 251;
    return out;
  }
  switch (as) {
    case "string":
      return data;
    case "buffer":
      return utf8.buffer.slice(utf8.byteOffset, utf8.byteOffset + utf8.byteLength);
    case "bytes":
      return utf8;
    case "view": {
      const big = new Uint8Array(utf8.length + 8);
      big.set(utf8, 4);
      return big.subarray(4, 4 + utf8.length);
    }
    case "u16": {
      const even = new Uint8Array(utf8.length + (utf8.length % 2));
      even.set(utf8);
      return new Uint16Array(even.buffer);
    }
    case "blob":
      return new Blob([data], { type: "text/plain" });
    case "none":
      return undefined;
    default:
      throw new Error(`unknown as ${as}`);
  }
}

async function call(a: any): Promise<unknown> {
  switch (a.op) {
    case "save": {
      const file: any = { filename: a.filename };
      const data = payload(a.data ?? "", a.as ?? "string");
      if (data !== undefined) file.data = data;
      return await pb.files.save(a.collection, a.record, file);
    }
    case "read": {
      const buf = await pb.files.read(a.collection, a.record, a.filename);
      const bytes = new Uint8Array(buf);
      return {
        isArrayBuffer: buf instanceof ArrayBuffer,
        size: buf.byteLength,
        text: new TextDecoder().decode(bytes),
        sha: await pb.utils.hash(bytes, "sha256"),
      };
    }
    case "delete":
      return await pb.files.delete(a.collection, a.record, a.filename);
    case "list":
      return await pb.files.list(a.collection, a.record);
    default:
      throw new Error(`unknown op ${a.op}`);
  }
}

export async function POST(req: Request): Promise<Response> {
  const a = await req.json();
  try {
    const ok = await call(a);
    return Response.json({ ok: ok === undefined ? null : ok });
  } catch (e: any) {
    return Response.json({ error: { name: e.name, code: e.code ?? null, message: e.message } });
  }
}

export async function GET(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const q = (name: string, fallback: string) => url.searchParams.get(name) ?? fallback;
  if (url.pathname.split("/").pop() !== "bench") return new Response("no such route\n", { status: 404 });
  const op = q("op", "save");
  const n = Number(q("n", "10"));
  const size = Number(q("kb", "1024")) * 1024;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  await pb.files.save("bench", "r1", { filename: "blob.bin", data });
  const us: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    if (op === "save") {
      await pb.files.save("bench", "r1", { filename: "blob.bin", data });
    } else if (op === "savenew") {
      await pb.files.save("bench", "r1", { filename: `new-${i}.bin`, data });
    } else {
      const buf = await pb.files.read("bench", "r1", "blob.bin");
      if (buf.byteLength !== size) throw new Error(`read ${buf.byteLength} bytes, not ${size}`);
    }
    us.push((performance.now() - started) * 1000);
  }
  if (op === "savenew") for (let i = 0; i < n; i++) await pb.files.delete("bench", "r1", `new-${i}.bin`);
  return Response.json({ n, bytes: size, us });
}
