// The `pb` global: the host's capabilities with PocketBase's and Cloudflare's
// manners, written against the layer generated from the WIT
// (wit.generated.ts) and typed by the SDK's declarations (../../sdk-ts), so a
// WIT change this file does not follow, or a declaration it does not honour,
// fails the engine's build (host/build.rs runs build.mjs: tsc, then esbuild
// to one script evaluated before every bundle).
//
// Every method returns a Promise. The host call itself is synchronous: an
// async method makes it before its first `await`, and a failure becomes a
// rejection. A WIT error is a `PbError` (`code` = the case, `op`, and for
// record operations `status` as the records API answers), thrown by the
// bridge; wrong arguments are a TypeError.

import type * as Sdk from "../../sdk-ts/index";
import * as Wit from "./wit.generated";

const internal = __pbsInternal;
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Values

const isBufferSource = (value: unknown): value is ArrayBuffer | ArrayBufferView =>
  value instanceof ArrayBuffer || ArrayBuffer.isView(value);

/** The bytes of an ArrayBuffer or view, as a Uint8Array over the same memory. */
function bufferBytes(source: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (source instanceof Uint8Array) return source;
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return new Uint8Array(source);
}

/** Bytes for the host: strings as UTF-8, ArrayBuffers and views as they are, Blobs read. */
async function toBytes(data: unknown): Promise<Uint8Array> {
  if (typeof data === "string") return encoder.encode(data);
  if (isBufferSource(data)) return bufferBytes(data);
  if (data instanceof Blob) return data.bytes();
  throw new TypeError("expected a string, an ArrayBuffer, a typed array or a Blob");
}

/** The ArrayBuffer behind `bytes`, copied only if `bytes` is part of a larger one. */
function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return (whole ? bytes.buffer : bytes.slice().buffer) as ArrayBuffer;
}

function toJSONText(value: unknown, what: string): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${what} cannot be serialized to JSON`);
  return text;
}

/** A KV value: bytes as they are, anything else as UTF-8 JSON. */
const kvValue = (value: unknown): Uint8Array =>
  isBufferSource(value) ? bufferBytes(value) : encoder.encode(toJSONText(value, "the KV value"));

type JsonObject = { [key: string]: unknown };

/**
 * PocketBase's `fields` option ("id,title", "*", "body:excerpt(200)") for
 * the calls whose WIT has no such parameter: keeps the named top-level
 * fields; modifiers and nested paths select their whole top-level field.
 */
function pickFields(record: JsonObject, fields: string | undefined): JsonObject {
  if (!fields) return record;
  const names = String(fields)
    .split(",")
    .map((f) => f.trim().split(":")[0].split(".")[0]);
  if (names.includes("*")) return record;
  return Object.fromEntries(names.filter((name) => Object.hasOwn(record, name)).map((name) => [name, record[name]]));
}

const parseRecord = (json: string, fields?: string): any => pickFields(JSON.parse(json) as JsonObject, fields);

/** Log and span fields as the WIT's `list<field>`: values as strings, objects as JSON. */
function fieldList(fields: Sdk.LogFields | undefined): Wit.trace.tracing.Field[] {
  if (fields === undefined || fields === null || typeof fields !== "object") return [];
  return Object.entries(fields).map(([key, value]) => ({
    key,
    value: typeof value === "string" ? value : (JSON.stringify(value) ?? String(value)),
  }));
}

// ---------------------------------------------------------------------------
// Records

/** What a collection's methods call: the free functions, or a transaction's. */
type Records = Pick<
  Wit.data.records.Transaction,
  "getOne" | "getList" | "getFirstListItem" | "create" | "update" | "delete" | "vectorSearch"
>;

const outsideTransactions: Records = {
  getOne: Wit.data.records.getOne,
  getList: Wit.data.records.getList,
  getFirstListItem: Wit.data.records.getFirstListItem,
  create: Wit.data.records.create,
  update: Wit.data.records.update,
  delete: Wit.data.records.delete_,
  vectorSearch: Wit.data.records.vectorSearch,
};

/** The record methods of one collection, outside a transaction or inside one. */
class RecordCollection implements Sdk.RecordService<any> {
  readonly #name: string;
  readonly #records: Records;

  constructor(name: string, records: Records) {
    this.#name = String(name);
    this.#records = records;
  }

  async getOne(id: string, { fields }: Sdk.FieldsOption = {}) {
    return parseRecord(this.#records.getOne(this.#name, String(id)), fields);
  }

  /** One page: {page, perPage, totalItems, totalPages, items}, as PocketBase's API answers. */
  async getList(page = 1, perPage = 30, { filter, sort, fields, skipTotal = false }: Sdk.ListOptions = {}) {
    const result = this.#records.getList(this.#name, {
      filter: filter ?? undefined,
      sort: sort ?? undefined,
      page,
      perPage,
      fields: fields ?? undefined,
      skipTotal: Boolean(skipTotal),
    });
    return {
      page: result.page,
      perPage: result.perPage,
      totalItems: result.totalItems,
      totalPages: result.totalPages,
      items: result.items.map((json) => JSON.parse(json)),
    };
  }

  /** Every matching record, fetched `batch` (default 1000) at a time: `getFullList(options)` or `getFullList(batch, options)`. */
  async getFullList(batchOrOptions: number | Sdk.FullListOptions = {}, options: Sdk.FullListOptions = {}) {
    const opts = typeof batchOrOptions === "number" ? { ...options, batch: batchOrOptions } : { ...batchOrOptions };
    const { filter, sort, fields, batch = 1000 } = opts;
    const items: any[] = [];
    for (let page = 1; ; page++) {
      const result = await this.getList(page, batch, { filter, sort, fields, skipTotal: true });
      items.push(...result.items);
      if (result.items.length < batch) return items;
    }
  }

  /** The first record matching `filter`; rejects with code "not-found" when none does. */
  async getFirstListItem(filter: string, { fields }: Sdk.FieldsOption = {}) {
    return parseRecord(this.#records.getFirstListItem(this.#name, String(filter)), fields);
  }

  async create(data: object, { fields }: Sdk.FieldsOption = {}) {
    return parseRecord(this.#records.create(this.#name, toJSONText(data, "the record")), fields);
  }

  async update(id: string, data: object, { fields }: Sdk.FieldsOption = {}) {
    return parseRecord(this.#records.update(this.#name, String(id), toJSONText(data, "the patch")), fields);
  }

  async delete(id: string): Promise<true> {
    this.#records.delete(this.#name, String(id));
    return true;
  }

  /** The `top` records nearest to `vector` by cosine similarity: [{record, score}], best first. */
  async vectorSearch({ vector, field, filter, top = 10, fields }: Sdk.VectorSearchOptions<any>) {
    const scored = this.#records.vectorSearch(this.#name, {
      field: String(field),
      vector: Array.from(vector, Number),
      filter: filter ?? undefined,
      top,
    });
    return scored.map(({ record, score }) => ({ record: parseRecord(record, fields), score }));
  }
}

// ---------------------------------------------------------------------------
// KV

/** Buckets by namespace (undefined = the function's own), opened on first use. */
const buckets = new Map<string | undefined, Wit.kv.store.Bucket>();

function bucketOf(namespace: string | undefined): Wit.kv.store.Bucket {
  let bucket = buckets.get(namespace);
  if (bucket === undefined) {
    bucket = Wit.kv.store.open(namespace);
    buckets.set(namespace, bucket);
  }
  return bucket;
}

/**
 * `{ttl}` in seconds (fractions allowed, as Cloudflare KV's `expirationTtl`
 * and Redis's `EX` count) → the WIT's `ttl-ms`; none = never expires.
 */
function ttlMs(ttl: number | undefined | null): number | undefined {
  if (ttl === undefined || ttl === null) return undefined;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) {
    throw new TypeError("pb.kv: `ttl` must be a positive number of seconds");
  }
  return Math.ceil(ttl * 1000);
}

/** One KV namespace. Values are stored as UTF-8 JSON (bytes as they are); `ttl` is in seconds. */
class KVBucket implements Sdk.KvNamespace {
  readonly #namespace: string | undefined;

  constructor(namespace: string | undefined) {
    this.#namespace = namespace;
  }

  /** The value, or null when absent or expired. */
  async get<V = unknown>(key: string): Promise<V | null> {
    // The hot path of pb:kv: JSON text comes as a string, no decoder.
    const value = bucketOf(this.#namespace).getText(String(key));
    if (value === undefined) return null;
    if (typeof value !== "string") return value as V;
    try {
      return JSON.parse(value) as V;
    } catch {
      return encoder.encode(value) as V;
    }
  }

  /** Sets the value; `ttl` (seconds) makes it expire, none clears an earlier TTL. */
  async set(key: string, value: unknown, { ttl }: Sdk.KvSetOptions = {}) {
    bucketOf(this.#namespace).set(String(key), kvValue(value), ttlMs(ttl));
  }

  /** True when a key was removed. */
  async delete(key: string) {
    return bucketOf(this.#namespace).delete(String(key));
  }

  /** Adds `by` (an integer) to a counter (absent = 0) and returns the new value. */
  async incr(key: string, by = 1) {
    if (!Number.isSafeInteger(by)) throw new TypeError("pb.kv.incr: `by` must be a safe integer");
    return bucketOf(this.#namespace).incr(String(key), by);
  }

  /** Sets only when absent or expired; true when this call set it (a lock). */
  async setIfAbsent(key: string, value: unknown, { ttl }: Sdk.KvSetOptions = {}) {
    return bucketOf(this.#namespace).setIfAbsent(String(key), kvValue(value), ttlMs(ttl));
  }

  /**
   * Sets `value` only while the stored value is `expected` (null = absent);
   * `expected` is compared as stored bytes, so JSON key order matters.
   */
  async compareAndSwap(key: string, expected: unknown, value: unknown, { ttl }: Sdk.KvSetOptions = {}) {
    const expectedBytes = expected === null || expected === undefined ? undefined : kvValue(expected);
    return bucketOf(this.#namespace).compareAndSwap(String(key), expectedBytes, kvValue(value), ttlMs(ttl));
  }

  /** Every key starting with `prefix`, in byte order. */
  async listKeys(prefix = "") {
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = bucketOf(this.#namespace).listKeys(String(prefix), cursor);
      keys.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return keys;
  }

  /** One page of the keys starting with `prefix`; pass `cursor` back for the next (null after the last). */
  async listKeysPage(prefix = "", { cursor, limit }: { cursor?: string | null; limit?: number } = {}) {
    const page = bucketOf(this.#namespace).listKeys(String(prefix), cursor ?? undefined, limit);
    return { keys: page.keys, cursor: page.cursor ?? null };
  }
}

/** `pb.kv`: the function's own bucket, and the way to the shared one. */
class KVStore extends KVBucket implements Sdk.KvStore {
  constructor() {
    super(undefined);
  }

  /** A named namespace: only "shared" may be opened (others reject with code "denied"). */
  bucket(name: "shared") {
    return new KVBucket(String(name));
  }

  /** The namespace every function of the host sees. */
  get shared() {
    return this.bucket("shared");
  }
}

// ---------------------------------------------------------------------------
// Jobs

function enqueueOptions({ delay, maxAttempts, dedupeKey, priority }: Sdk.EnqueueOptions = {}): Wit.jobs.queue.EnqueueOptions {
  return {
    delayMs: delay ?? undefined,
    maxAttempts: maxAttempts ?? undefined,
    dedupeKey: dedupeKey ?? undefined,
    priority: priority ?? undefined,
  };
}

/** A payload as JSON text; `undefined` is sent as null. */
const payloadJSON = (payload: unknown) => (payload === undefined ? "null" : toJSONText(payload, "the job payload"));

const jobs: Sdk.JobQueue = {
  /** Enqueues job `name`; `delay` is in milliseconds. Resolves with the job id. */
  async enqueue(name: string, payload: unknown, options: Sdk.EnqueueOptions = {}) {
    return Wit.jobs.queue.enqueue(String(name), payloadJSON(payload), enqueueOptions(options));
  },

  /** The job's state, or null when there is no such job. */
  async status(id: string) {
    const status = Wit.jobs.queue.status(String(id));
    if (status === undefined) return null;
    return {
      id: status.id,
      name: status.name,
      state: status.state,
      attempts: status.attempts,
      maxAttempts: status.maxAttempts,
      lastError: status.lastError ?? null,
      createdMs: status.createdMs,
      updatedMs: status.updatedMs,
    };
  },
};

// ---------------------------------------------------------------------------
// Transactions

/** What `pb.tx` hands its callback: the same APIs, bound to one transaction. */
function transactionScope(tx: Wit.data.records.Transaction): Sdk.Transaction {
  return {
    collection: (name: string) => new RecordCollection(name, tx),

    /** KV writes that land only if the transaction commits. */
    kv(bucket?: "shared") {
      const namespace = bucket === undefined || bucket === null ? undefined : String(bucket);
      return {
        async set(key: string, value: unknown, { ttl }: Sdk.KvSetOptions = {}) {
          bucketOf(namespace).setIn(tx, String(key), kvValue(value), ttlMs(ttl));
        },
        async delete(key: string) {
          return bucketOf(namespace).deleteIn(tx, String(key));
        },
      };
    },

    jobs: {
      /** A job that exists only if the transaction commits. */
      async enqueue(name: string, payload: unknown, options: Sdk.EnqueueOptions = {}) {
        return Wit.jobs.queue.enqueueIn(tx, String(name), payloadJSON(payload), enqueueOptions(options));
      },
    },
  };
}

/** Runs `fn(tx)` in a transaction: commits when it resolves (with its value), rolls back and rethrows when it throws. */
async function tx<R>(fn: (tx: Sdk.Transaction) => R | Promise<R>): Promise<R> {
  const transaction = Wit.data.records.begin();
  let result: R;
  try {
    result = await fn(transactionScope(transaction));
  } catch (err) {
    try {
      transaction.rollback();
    } catch (rollbackErr) {
      internal.reportError(rollbackErr, "pb.tx: the rollback failed");
    }
    throw err;
  }
  transaction.commit();
  return result;
}

// ---------------------------------------------------------------------------
// Files, secrets, tracing, utilities

const files: Sdk.FileStore = {
  /** The file's bytes. */
  async read(collection, recordId, filename) {
    return exactBuffer(Wit.files.storage.read(String(collection), String(recordId), String(filename)));
  },

  /** Writes a file (string, ArrayBuffer, view or Blob); resolves with {filename, size, modifiedMs}. */
  async save(collection, recordId, file) {
    const { filename, data } = file ?? {};
    if (typeof filename !== "string") throw new TypeError("pb.files.save: expected {filename: string, data}");
    const bytes = await toBytes(data);
    return Wit.files.storage.save(String(collection), String(recordId), String(filename), bytes);
  },

  /** True when a file was removed. */
  async delete(collection, recordId, filename) {
    return Wit.files.storage.delete_(String(collection), String(recordId), String(filename));
  },

  async list(collection, recordId) {
    return Wit.files.storage.list(String(collection), String(recordId));
  },
};

const secrets: Sdk.SecretStore = {
  /** The secret's value, or null when it is not set. */
  async get(name) {
    const value = Wit.secrets.store.get(String(name)) ?? null;
    if (value !== null) internal.noteSecret(value);
    return value;
  },
};

const errorMessage = (err: unknown) =>
  typeof (err as Error | undefined)?.message === "string" ? (err as Error).message : String(err);

const LEVELS: readonly string[] = ["trace", "debug", "info", "warn", "error"];

const trace: Sdk.Tracer = {
  /** A structured log line; level is "trace", "debug", "info", "warn" or "error"; fields keep their JSON types. */
  async log(level, message, fields = {}) {
    const known = LEVELS.includes(String(level)) ? (String(level) as Wit.trace.tracing.Level) : "info";
    Wit.trace.tracing.logJson(known, String(message), JSON.stringify(fields ?? {}));
  },

  /** Runs `fn(span)` inside a span named `name`; a throw marks the span failed and is rethrown. */
  async span(name, fn, fields = {}) {
    const span = Wit.trace.tracing.Span.create(String(name), fieldList(fields));
    try {
      return await fn({ setAttribute: (key, value) => span.setAttribute(String(key), String(value)) });
    } catch (err) {
      span.recordError(errorMessage(err));
      throw err;
    } finally {
      span.end();
    }
  },

  /** The W3C trace id of this invocation (32 hex digits). */
  async traceId() {
    return Wit.trace.tracing.traceId();
  },
};

const utils: Sdk.Utils = {
  async uuid() {
    return Wit.utils.helpers.uuid();
  },

  /** The digest of `data` (string, ArrayBuffer, view or Blob) as lowercase hex. */
  async hash(data, algorithm = "sha256") {
    return Wit.utils.helpers.hash(await toBytes(data), String(algorithm));
  },
};

const api: Sdk.Pb = {
  collection: (name: string) => new RecordCollection(name, outsideTransactions),
  tx,
  kv: new KVStore(),
  files,
  jobs,
  secrets,
  trace,
  utils,
};

internal.expose("pb", api);
