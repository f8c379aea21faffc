// The `pb` global: PocketBase's host capabilities (the `pb:*` WIT imports in
// ../../wit/deps) through `__pbs.pb(op, args)`, implemented in
// ../src/bridge/pb.rs.
//
// Every method returns a Promise. The bridge call itself is synchronous: an
// async method calls it before its first `await`, and a failure becomes a
// rejection. The bridge throws WIT errors as an `Error` named "PbError" with
// `code` = the WIT error case ("not-found", "invalid", "denied", …) and
// `message` = the host's text; wrong arguments throw a TypeError.
//
// The op table. Arguments follow the WIT parameters in order; a WIT record is
// an object with the WIT field names (kebab-case); `option<T>` is null when
// absent; `list<u8>` is a Uint8Array; a resource is a number the bridge hands
// out (a transaction, a KV bucket, a span); records of `pb:data` travel as
// JSON text (`record-json`), stringified and parsed here.
//
// | op                        | args                                             | WIT function (→ result)                         |
// |---------------------------|--------------------------------------------------|-------------------------------------------------|
// | data.get-one              | collection, id                                   | records.get-one → record-json                   |
// | data.get-list             | collection, list-options                         | records.get-list → list-result                  |
// | data.get-first-list-item  | collection, filter                               | records.get-first-list-item → record-json       |
// | data.create               | collection, record-json                          | records.create → record-json                    |
// | data.update               | collection, id, patch-json                       | records.update → record-json                    |
// | data.delete               | collection, id                                   | records.delete                                  |
// | data.vector-search        | collection, vector-query                         | records.vector-search → list<scored-record>     |
// | data.begin                |                                                  | records.begin → transaction                     |
// | tx.get-one … tx.vector-search | transaction, then as data.*                  | transaction.get-one … vector-search             |
// | tx.commit / tx.rollback   | transaction                                      | transaction.commit / rollback                   |
// | kv.open                   | namespace (null = own, "shared"; else denied)    | store.open → bucket                             |
// | kv.get                    | bucket, key                                      | bucket.get → option<list<u8>>                   |
// | kv.get-utf8               | bucket, key                                      | bucket.get → a string if UTF-8, else bytes      |
// | kv.set                    | bucket, key, value, ttl-ms (JS `ttl` is seconds) | bucket.set                                      |
// | kv.delete                 | bucket, key                                      | bucket.delete → bool                            |
// | kv.incr                   | bucket, key, delta                               | bucket.incr → s64                               |
// | kv.set-if-absent          | bucket, key, value, ttl-ms                       | bucket.set-if-absent → bool                     |
// | kv.compare-and-swap       | bucket, key, expected (null = absent), value, ttl-ms | bucket.compare-and-swap → bool              |
// | kv.list-keys              | bucket, prefix, cursor, limit                    | bucket.list-keys → key-page                     |
// | kv.set-in                 | bucket, transaction, key, value, ttl-ms          | bucket.set-in                                   |
// | kv.delete-in              | bucket, transaction, key                         | bucket.delete-in → bool                         |
// | files.read                | collection, record-id, filename                  | storage.read → list<u8>                         |
// | files.save                | collection, record-id, filename, data            | storage.save → file-info                        |
// | files.delete              | collection, record-id, filename                  | storage.delete → bool                           |
// | files.list                | collection, record-id                            | storage.list → list<file-info>                  |
// | jobs.enqueue              | name, payload-json, enqueue-options              | queue.enqueue → job id                          |
// | jobs.enqueue-in           | transaction, name, payload-json, enqueue-options | queue.enqueue-in → job id                       |
// | jobs.status               | id                                               | queue.status → option<job-status>               |
// | secrets.get               | name                                             | store.get → option<string>                      |
// | trace.log                 | level, message, fields ({key: value})            | tracing.log                                     |
// | trace.log-json            | level, message, fields-json (JSON object text)   | tracing.log-json                                |
// | trace.span-start          | name, fields ({key: value})                      | tracing.span constructor → span                 |
// | trace.span-set-attribute  | span, key, value                                 | span.set-attribute                              |
// | trace.span-record-error   | span, message                                    | span.record-error                               |
// | trace.span-end            | span                                             | span.end                                        |
// | trace.trace-id            |                                                  | tracing.trace-id → string                       |
// | utils.uuid                |                                                  | pb:utils/helpers.uuid → UUID v7 string          |
// | utils.hash                | data (Uint8Array), algorithm ("sha256" …)        | pb:utils/helpers.hash → lowercase hex           |
(() => {
  "use strict";

  const pbs = globalThis.__pbs;
  const internal = globalThis.__pbsInternal;
  const encoder = new TextEncoder();

  const call = (op, args) => pbs.pb(op, args);

  // ---------------------------------------------------------------------
  // Values

  const isBufferSource = (value) => value instanceof ArrayBuffer || ArrayBuffer.isView(value);

  /** The bytes of an ArrayBuffer or view, as a Uint8Array over the same memory. */
  function bufferBytes(source) {
    if (source instanceof Uint8Array) return source;
    if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return new Uint8Array(source);
  }

  /** Bytes for the host: strings as UTF-8, ArrayBuffers and views as they are, Blobs read. */
  async function toBytes(data) {
    if (typeof data === "string") return encoder.encode(data);
    if (isBufferSource(data)) return bufferBytes(data);
    if (data instanceof Blob) return data.bytes();
    throw new TypeError("expected a string, an ArrayBuffer, a typed array or a Blob");
  }

  /** The ArrayBuffer behind `bytes`, copied only if `bytes` is part of a larger one. */
  function exactBuffer(bytes) {
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    return whole ? bytes.buffer : bytes.slice().buffer;
  }

  function toJSONText(value, what) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`${what} cannot be serialized to JSON`);
    return text;
  }

  /** A KV value: bytes as they are, anything else as UTF-8 JSON. */
  const kvValue = (value) =>
    isBufferSource(value) ? bufferBytes(value) : encoder.encode(toJSONText(value, "the KV value"));

  /**
   * PocketBase's `fields` option ("id,title", "*", "body:excerpt(200)") for
   * the calls whose WIT has no such parameter: keeps the named top-level
   * fields; modifiers and nested paths select their whole top-level field.
   */
  function pickFields(record, fields) {
    if (!fields) return record;
    const names = String(fields).split(",").map((f) => f.trim().split(":")[0].split(".")[0]);
    if (names.includes("*")) return record;
    return Object.fromEntries(names.filter((name) => Object.hasOwn(record, name)).map((name) => [name, record[name]]));
  }

  // ---------------------------------------------------------------------
  // Records

  /**
   * The record methods of one collection, outside a transaction (ops "data.*")
   * or inside one (ops "tx.*", with the transaction handle first).
   */
  class RecordCollection {
    #name;
    #prefix;
    #head;

    constructor(name, transaction = null) {
      this.#name = String(name);
      this.#prefix = transaction === null ? "data." : "tx.";
      this.#head = transaction === null ? [] : [transaction];
    }

    /** A record operation; its `PbError` carries `status` as the records API would answer (set by the bridge). */
    #call(op, ...args) {
      return call(this.#prefix + op, [...this.#head, this.#name, ...args]);
    }

    async getOne(id, { fields } = {}) {
      return pickFields(JSON.parse(this.#call("get-one", String(id))), fields);
    }

    /** One page: {page, perPage, totalItems, totalPages, items}, as PocketBase's API answers. */
    async getList(page = 1, perPage = 30, { filter, sort, fields, skipTotal = false } = {}) {
      const result = this.#call("get-list", {
        "filter": filter ?? null,
        "sort": sort ?? null,
        "page": page,
        "per-page": perPage,
        "fields": fields ?? null,
        "skip-total": Boolean(skipTotal),
      });
      return {
        page: result["page"],
        perPage: result["per-page"],
        totalItems: result["total-items"],
        totalPages: result["total-pages"],
        items: result["items"].map((json) => JSON.parse(json)),
      };
    }

    /**
     * Every matching record, fetched `batch` (default 1000) at a time; as the
     * SDK, `getFullList(options)` or `getFullList(batch, options)`.
     */
    async getFullList(batchOrOptions = {}, options = {}) {
      const opts = typeof batchOrOptions === "number" ? { ...options, batch: batchOrOptions } : { ...batchOrOptions };
      const { filter, sort, fields, batch = 1000 } = opts;
      const items = [];
      for (let page = 1; ; page++) {
        const result = await this.getList(page, batch, { filter, sort, fields, skipTotal: true });
        items.push(...result.items);
        if (result.items.length < batch) return items;
      }
    }

    /** The first record matching `filter`; rejects with code "not-found" when none does. */
    async getFirstListItem(filter, { fields } = {}) {
      return pickFields(JSON.parse(this.#call("get-first-list-item", String(filter))), fields);
    }

    async create(data, { fields } = {}) {
      return pickFields(JSON.parse(this.#call("create", toJSONText(data, "the record"))), fields);
    }

    async update(id, data, { fields } = {}) {
      return pickFields(JSON.parse(this.#call("update", String(id), toJSONText(data, "the patch"))), fields);
    }

    async delete(id) {
      this.#call("delete", String(id));
      return true;
    }

    /** The `top` records nearest to `vector` by cosine similarity: [{record, score}], best first. */
    async vectorSearch({ vector, field, filter, top = 10, fields }) {
      const scored = this.#call("vector-search", {
        "field": String(field),
        "vector": Array.from(vector, Number),
        "filter": filter ?? null,
        "top": top,
      });
      return scored.map(({ record, score }) => ({ record: pickFields(JSON.parse(record), fields), score }));
    }
  }

  // ---------------------------------------------------------------------
  // KV

  // Bucket handles by namespace (null = the function's own), opened on first use.
  const bucketHandles = new Map();

  function bucketHandle(namespace) {
    let handle = bucketHandles.get(namespace);
    if (handle === undefined) {
      handle = call("kv.open", [namespace]);
      bucketHandles.set(namespace, handle);
    }
    return handle;
  }

  /**
   * `{ttl}` in seconds (fractions allowed, as Cloudflare KV's `expirationTtl`
   * and Redis's `EX` count) → the WIT's `ttl-ms`; none = never expires.
   */
  function ttlMs(ttl) {
    if (ttl === undefined || ttl === null) return null;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) {
      throw new TypeError("pb.kv: `ttl` must be a positive number of seconds");
    }
    return Math.ceil(ttl * 1000);
  }

  /**
   * One KV namespace. Values are stored as UTF-8 JSON (bytes as they are);
   * `ttl` is in seconds. A key past its TTL reads as absent.
   */
  class KVBucket {
    #namespace;

    constructor(namespace) {
      this.#namespace = namespace;
    }

    #call(op, ...args) {
      return call(op, [bucketHandle(this.#namespace), ...args]);
    }

    /** The value, or null when absent or expired. */
    async get(key) {
      // The hot path of pb:kv: no spread, and JSON text comes as a string.
      const value = call("kv.get-utf8", [bucketHandle(this.#namespace), String(key)]);
      if (typeof value !== "string") return value;
      try {
        return JSON.parse(value);
      } catch {
        return encoder.encode(value);
      }
    }

    /** Sets the value; `ttl` (seconds) makes it expire, none clears an earlier TTL. */
    async set(key, value, { ttl } = {}) {
      this.#call("kv.set", String(key), kvValue(value), ttlMs(ttl));
    }

    /** True when a key was removed. */
    async delete(key) {
      return this.#call("kv.delete", String(key));
    }

    /**
     * Adds `by` (an integer) to a counter (absent = 0) and returns the new
     * value; rejects with code "invalid" when the value is not an integer.
     */
    async incr(key, by = 1) {
      if (!Number.isSafeInteger(by)) throw new TypeError("pb.kv.incr: `by` must be a safe integer");
      return this.#call("kv.incr", String(key), by);
    }

    /** Sets only when absent or expired; true when this call set it (a lock). */
    async setIfAbsent(key, value, { ttl } = {}) {
      return this.#call("kv.set-if-absent", String(key), kvValue(value), ttlMs(ttl));
    }

    /**
     * Sets `value` only while the stored value is `expected` (null = absent);
     * true when it did. `expected` is compared as stored bytes, so JSON key
     * order matters.
     */
    async compareAndSwap(key, expected, value, { ttl } = {}) {
      const expectedBytes = expected === null || expected === undefined ? null : kvValue(expected);
      return this.#call("kv.compare-and-swap", String(key), expectedBytes, kvValue(value), ttlMs(ttl));
    }

    /** Every key starting with `prefix`, in byte order. */
    async listKeys(prefix = "") {
      const keys = [];
      let cursor = null;
      do {
        const page = this.#call("kv.list-keys", String(prefix), cursor, null);
        keys.push(...page.keys);
        cursor = page.cursor;
      } while (cursor !== null && cursor !== undefined);
      return keys;
    }

    /**
     * One page of the keys starting with `prefix`: {keys, cursor}; pass
     * `cursor` back for the next page (null after the last). `limit`: 100 by
     * default, at most 1000.
     */
    async listKeysPage(prefix = "", { cursor, limit } = {}) {
      const page = this.#call("kv.list-keys", String(prefix), cursor ?? null, limit ?? null);
      return { keys: page.keys, cursor: page.cursor ?? null };
    }
  }

  /** `pb.kv`: the function's own bucket, and the way to the others. */
  class KVStore extends KVBucket {
    constructor() {
      super(null);
    }

    /** A named namespace: only "shared" may be opened (others reject with code "denied"). */
    bucket(name) {
      return new KVBucket(String(name));
    }

    /** The namespace every function of the host sees. */
    get shared() {
      return this.bucket("shared");
    }
  }

  // ---------------------------------------------------------------------
  // Jobs

  function enqueueOptions({ delay, maxAttempts, dedupeKey, priority } = {}) {
    return {
      "delay-ms": delay ?? null,
      "max-attempts": maxAttempts ?? null,
      "dedupe-key": dedupeKey ?? null,
      "priority": priority ?? null,
    };
  }

  /** A payload as JSON text; `undefined` is sent as null. */
  const payloadJSON = (payload) => (payload === undefined ? "null" : toJSONText(payload, "the job payload"));

  const jobs = {
    /** Enqueues job `name`; `delay` is in milliseconds. Resolves with the job id. */
    async enqueue(name, payload, options = {}) {
      return call("jobs.enqueue", [String(name), payloadJSON(payload), enqueueOptions(options)]);
    },

    /** The job's state, or null when there is no such job. */
    async status(id) {
      const status = call("jobs.status", [String(id)]);
      if (status === null) return null;
      return {
        id: status["id"],
        name: status["name"],
        state: status["state"],
        attempts: status["attempts"],
        maxAttempts: status["max-attempts"],
        lastError: status["last-error"] ?? null,
        createdMs: status["created-ms"],
        updatedMs: status["updated-ms"],
      };
    },
  };

  // ---------------------------------------------------------------------
  // Transactions

  /** What `pb.tx` hands its callback: the same APIs, bound to one transaction. */
  function transactionScope(handle) {
    return {
      collection: (name) => new RecordCollection(name, handle),

      /** KV writes that land only if the transaction commits. */
      kv(bucket = undefined) {
        const namespace = bucket === undefined || bucket === null ? null : String(bucket);
        return {
          async set(key, value, { ttl } = {}) {
            call("kv.set-in", [bucketHandle(namespace), handle, String(key), kvValue(value), ttlMs(ttl)]);
          },
          async delete(key) {
            return call("kv.delete-in", [bucketHandle(namespace), handle, String(key)]);
          },
        };
      },

      jobs: {
        /** A job that exists only if the transaction commits. */
        async enqueue(name, payload, options = {}) {
          return call("jobs.enqueue-in", [handle, String(name), payloadJSON(payload), enqueueOptions(options)]);
        },
      },
    };
  }

  /**
   * Runs `fn(tx)` in a transaction: commits when it resolves (with its
   * value), rolls back and rethrows when it throws.
   */
  async function tx(fn) {
    const handle = call("data.begin", []);
    let result;
    try {
      result = await fn(transactionScope(handle));
    } catch (err) {
      try {
        call("tx.rollback", [handle]);
      } catch (rollbackErr) {
        internal.reportError(rollbackErr, "pb.tx: the rollback failed");
      }
      throw err;
    }
    call("tx.commit", [handle]);
    return result;
  }

  // ---------------------------------------------------------------------
  // Files, secrets, tracing, utilities

  const fileInfo = (info) => ({ filename: info["filename"], size: info["size"], modifiedMs: info["modified-ms"] });

  const files = {
    /** The file's bytes. */
    async read(collection, recordId, filename) {
      return exactBuffer(call("files.read", [String(collection), String(recordId), String(filename)]));
    },

    /** Writes a file (string, ArrayBuffer, view or Blob); resolves with {filename, size, modifiedMs}. */
    async save(collection, recordId, file) {
      const { filename, data } = file ?? {};
      if (typeof filename !== "string") throw new TypeError("pb.files.save: expected {filename: string, data}");
      const bytes = await toBytes(data);
      return fileInfo(call("files.save", [String(collection), String(recordId), String(filename), bytes]));
    },

    /** True when a file was removed. */
    async delete(collection, recordId, filename) {
      return call("files.delete", [String(collection), String(recordId), String(filename)]);
    },

    async list(collection, recordId) {
      return call("files.list", [String(collection), String(recordId)]).map(fileInfo);
    },
  };

  const secrets = {
    /** The secret's value, or null when it is not set. */
    async get(name) {
      return call("secrets.get", [String(name)]) ?? null;
    },
  };

  const errorMessage = (err) => (typeof err?.message === "string" ? err.message : String(err));

  const trace = {
    /** A structured log line; level is "trace", "debug", "info", "warn" or "error"; fields keep their JSON types. */
    async log(level, message, fields = {}) {
      call("trace.log-json", [String(level), String(message), JSON.stringify(fields ?? {})]);
    },

    /**
     * Runs `fn(span)` inside a span named `name`; `span.setAttribute(key,
     * value)` annotates it. A throw marks the span failed and is rethrown.
     */
    async span(name, fn, fields = {}) {
      const handle = call("trace.span-start", [String(name), fields]);
      const span = {
        setAttribute: (key, value) => call("trace.span-set-attribute", [handle, String(key), String(value)]),
      };
      try {
        return await fn(span);
      } catch (err) {
        call("trace.span-record-error", [handle, errorMessage(err)]);
        throw err;
      } finally {
        call("trace.span-end", [handle]);
      }
    },

    /** The W3C trace id of this invocation (32 hex digits). */
    async traceId() {
      return call("trace.trace-id", []);
    },
  };

  const utils = {
    async uuid() {
      return call("utils.uuid", []);
    },

    /** The digest of `data` (string, ArrayBuffer, view or Blob) as lowercase hex. */
    async hash(data, algorithm = "sha256") {
      return call("utils.hash", [await toBytes(data), String(algorithm)]);
    },
  };

  internal.expose("pb", {
    collection: (name) => new RecordCollection(name),
    tx,
    kv: new KVStore(),
    files,
    jobs,
    secrets,
    trace,
    utils,
  });
})();
