/// <reference path="./web.d.ts" />
// @pb-serverless/sdk — the types of a pb-serverless function: the `pb` global
// (records, transactions, KV, files, jobs, secrets, tracing, utilities), the
// handler shapes a bundle exports, and the Web APIs the engine provides
// (web.d.ts; no Node built-ins exist in the engine).
//
// The engine's own `pb` is type-checked against these declarations when it
// is built (guest-js/ts/pb.ts), so they describe what runs. Project types —
// each collection's record, the secret and job names — come from
// `pbs types`, which writes pb-env.d.ts and augments `Collections`,
// `Secrets` and `Jobs` below.

import type {
  DataErrorCode,
  FilesErrorCode,
  JobsErrorCode,
  KvErrorCode,
  PbErrorCode,
  SecretsErrorCode,
} from "./errors";

export type { DataErrorCode, FilesErrorCode, JobsErrorCode, KvErrorCode, PbErrorCode, SecretsErrorCode };

// ---------------------------------------------------------------------------
// Project types (filled in by `pbs types`)

/** Collection name → its record type. Empty until `pbs types` fills it in: then only these names are accepted. */
export interface Collections {}
/** Secret name → `true`, for the secrets the manifest declares. */
export interface Secrets {}
/** Job name → its payload type, for the jobs the project's functions consume. */
export interface Jobs {}

type NamesOf<T> = [keyof T] extends [never] ? string : Extract<keyof T, string>;
/** A collection's name: any string, or (after `pbs types`) one of the project's. */
export type CollectionName = NamesOf<Collections>;
export type SecretName = NamesOf<Secrets>;
export type JobName = NamesOf<Jobs>;

// ---------------------------------------------------------------------------
// Values

/** What JSON can hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Bytes in any of the forms the host accepts. */
export type BinaryData = ArrayBuffer | ArrayBufferView;

/**
 * A thrown `pb:*` failure: `code` is the WIT error case; `status` (record
 * operations) is what the records REST API would answer, as the PocketBase
 * SDK's errors carry it.
 */
export interface PbError<C extends PbErrorCode = PbErrorCode> extends Error {
  readonly name: "PbError";
  readonly code: C;
  /** The host call that failed (`data/records.get-one`, …). */
  readonly op: string;
  readonly status?: number;
}

// ---------------------------------------------------------------------------
// Records (`pb:data`)

/** The fields every record has. */
export interface BaseRecord {
  collectionId: string;
  collectionName: string;
  id: string;
  /** `2025-01-31 12:00:00.000Z`, as PocketBase writes dates. */
  created: string;
  updated: string;
}

/** A record of a collection no type was generated for. */
export type AnyRecord = BaseRecord & { [field: string]: unknown };

/** The record type of collection `K`. */
export type RecordOf<K> = K extends keyof Collections ? Collections[K] : AnyRecord;

/** What a create or an update may set: the fields, not the system ones (`id` may be chosen on create). */
export type RecordInput<T> = Partial<Omit<T, "collectionId" | "collectionName" | "created" | "updated">>;

/** The names of `T`'s vector fields (`number[]`). */
export type VectorField<T> = string extends keyof T
  ? string
  : { [K in keyof T]-?: NonNullable<T[K]> extends number[] ? K : never }[keyof T] & string;

export interface FieldsOption {
  /** PocketBase's `fields`: `"id,title"`, `"*"`; modifiers select their whole field. */
  fields?: string;
}

export interface ListOptions extends FieldsOption {
  /** PocketBase's filter syntax: `status = "open" && total > 10`. */
  filter?: string;
  /** Comma separated fields, `-field` for descending; `@random`. */
  sort?: string;
  /** Skip counting the total (faster; the totals come back as -1). */
  skipTotal?: boolean;
}

export interface FullListOptions extends Omit<ListOptions, "skipTotal"> {
  /** Records fetched per request (default 1000). */
  batch?: number;
}

/** One page, as PocketBase's list API answers. */
export interface ListResult<T> {
  page: number;
  perPage: number;
  totalItems: number;
  totalPages: number;
  items: T[];
}

export interface VectorSearchOptions<T> extends FieldsOption {
  /** The query vector: as many numbers as the field's dimensions. */
  vector: ArrayLike<number>;
  /** The `vector` field searched. */
  field: VectorField<T>;
  /** A PocketBase filter the results must match. */
  filter?: string;
  /** How many (default 10, at most 1000). */
  top?: number;
}

/** A search result: the record and its cosine similarity (1 = same direction). */
export interface Scored<T> {
  record: T;
  score: number;
}

/** The records of one collection, with the PocketBase SDK's methods. Failures reject with a `PbError<DataErrorCode>`. */
export interface RecordService<T> {
  getOne(id: string, options?: FieldsOption): Promise<T>;
  /** One page (default page 1 of 30). */
  getList(page?: number, perPage?: number, options?: ListOptions): Promise<ListResult<T>>;
  /** Every matching record. */
  getFullList(options?: FullListOptions): Promise<T[]>;
  getFullList(batch: number, options?: Omit<FullListOptions, "batch">): Promise<T[]>;
  /** The first record matching `filter`; rejects with code `not-found` when none does. */
  getFirstListItem(filter: string, options?: FieldsOption): Promise<T>;
  create(data: RecordInput<T>, options?: FieldsOption): Promise<T>;
  update(id: string, data: RecordInput<T>, options?: FieldsOption): Promise<T>;
  delete(id: string): Promise<true>;
  /** The records nearest to `vector`, best first. */
  vectorSearch(query: VectorSearchOptions<T>): Promise<Scored<T>[]>;
}

// ---------------------------------------------------------------------------
// KV (`pb:kv`)

export interface KvSetOptions {
  /** Seconds until the key expires (fractions allowed); none = never (and clears an earlier TTL). */
  ttl?: number;
}

export interface KvKeyPage {
  keys: string[];
  /** Pass it back for the next page; null after the last. */
  cursor: string | null;
}

/**
 * One KV namespace. Values are stored as UTF-8 JSON, bytes as they are; a
 * key past its TTL reads as absent. Failures reject with a `PbError<KvErrorCode>`.
 */
export interface KvNamespace {
  /** The value (JSON parsed; bytes as a Uint8Array), or null when absent or expired. */
  get<V = unknown>(key: string): Promise<V | null>;
  set(key: string, value: unknown, options?: KvSetOptions): Promise<void>;
  /** True when a key was removed. */
  delete(key: string): Promise<boolean>;
  /** Adds `by` (default 1) to an integer counter (absent = 0); the new value. */
  incr(key: string, by?: number): Promise<number>;
  /** Sets only when absent or expired; true when this call set it (a lock). */
  setIfAbsent(key: string, value: unknown, options?: KvSetOptions): Promise<boolean>;
  /** Sets `value` while the stored value is `expected` (null = absent); true when it did. */
  compareAndSwap(key: string, expected: unknown, value: unknown, options?: KvSetOptions): Promise<boolean>;
  /** Every key starting with `prefix`, in byte order. */
  listKeys(prefix?: string): Promise<string[]>;
  /** One page of keys (`limit` 100 by default, at most 1000). */
  listKeysPage(prefix?: string, options?: { cursor?: string | null; limit?: number }): Promise<KvKeyPage>;
}

/** `pb.kv`: the function's own namespace, and the one every function shares. */
export interface KvStore extends KvNamespace {
  /** The namespace every function of the host sees. */
  readonly shared: KvNamespace;
  /** A namespace by name: only `"shared"` may be opened. */
  bucket(name: "shared"): KvNamespace;
}

// ---------------------------------------------------------------------------
// Jobs (`pb:jobs`)

export interface EnqueueOptions {
  /** Milliseconds before the job may start. */
  delay?: number;
  /** Runs before the job goes to dead letter (default 5, at most 100). */
  maxAttempts?: number;
  /** A second enqueue with this key, while the first job is unfinished, returns the first job's id. */
  dedupeKey?: string;
  /** Higher runs first (default 0). */
  priority?: number;
}

export type JobState = "queued" | "running" | "completed" | "failed" | "dead" | "cancelled";

export interface JobStatus {
  id: string;
  name: string;
  state: JobState;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  createdMs: number;
  updatedMs: number;
}

/** The payload type of job `K`. */
export type JobPayload<K> = K extends keyof Jobs ? Jobs[K] : unknown;

export interface JobQueue {
  /** Enqueues job `name` with a JSON payload; resolves with the job id. */
  enqueue<K extends JobName>(name: K, payload: JobPayload<K>, options?: EnqueueOptions): Promise<string>;
  /** With the payload's type given: `pb.jobs.enqueue<Resize>("resize", {…})` (only then: it is never inferred). */
  enqueue<P = never>(name: JobName, payload: NoInfer<P>, options?: EnqueueOptions): Promise<string>;
  /** The job's state, or null for a job this function neither enqueued nor consumes. */
  status(id: string): Promise<JobStatus | null>;
}

// ---------------------------------------------------------------------------
// Transactions

/** What `pb.tx` hands its callback: the same APIs, bound to one transaction. */
export interface Transaction {
  collection<K extends CollectionName>(name: K): RecordService<RecordOf<K>>;
  collection<T>(name: CollectionName): RecordService<T & BaseRecord>;
  /** KV writes that land only if the transaction commits (the function's own namespace, or `"shared"`). */
  kv(bucket?: "shared"): {
    set(key: string, value: unknown, options?: KvSetOptions): Promise<void>;
    delete(key: string): Promise<boolean>;
  };
  jobs: {
    /** A job that exists only if the transaction commits. */
    enqueue<K extends JobName>(name: K, payload: JobPayload<K>, options?: EnqueueOptions): Promise<string>;
    enqueue<P = never>(name: JobName, payload: NoInfer<P>, options?: EnqueueOptions): Promise<string>;
  };
}

// ---------------------------------------------------------------------------
// Files, secrets, tracing, utilities

export interface FileInfo {
  filename: string;
  size: number;
  modifiedMs: number;
}

/** A record's files (`pb:files`). Failures reject with a `PbError<FilesErrorCode>`. */
export interface FileStore {
  read(collection: string, recordId: string, filename: string): Promise<ArrayBuffer>;
  save(
    collection: string,
    recordId: string,
    file: { filename: string; data: string | BinaryData | Blob },
  ): Promise<FileInfo>;
  /** True when a file was removed. */
  delete(collection: string, recordId: string, filename: string): Promise<boolean>;
  list(collection: string, recordId: string): Promise<FileInfo[]>;
}

export interface SecretStore {
  /** The secret's value, or null when it is not set. Failures reject with a `PbError<SecretsErrorCode>`. */
  get(name: SecretName): Promise<string | null>;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/** Fields of a log line or span; values are written as strings (objects as JSON). */
export type LogFields = { [key: string]: unknown };

export interface Span {
  setAttribute(key: string, value: string | number | boolean): void;
}

export interface Tracer {
  log(level: LogLevel, message: string, fields?: LogFields): Promise<void>;
  /** Runs `fn` inside a span named `name`; a throw marks the span failed and is rethrown. */
  span<R>(name: string, fn: (span: Span) => R | Promise<R>, fields?: LogFields): Promise<R>;
  /** This invocation's W3C trace id (32 hex digits). */
  traceId(): Promise<string>;
}

export interface Utils {
  /** A UUID v7. */
  uuid(): Promise<string>;
  /** The digest of `data` as lowercase hex. */
  hash(data: string | BinaryData | Blob, algorithm?: "sha256" | "sha384" | "sha512"): Promise<string>;
}

/** The `pb` global. */
export interface Pb {
  /** The records of a collection (PocketBase's SDK shape). */
  collection<K extends CollectionName>(name: K): RecordService<RecordOf<K>>;
  /** With the record type given: `pb.collection<Post>("posts")`. */
  collection<T>(name: CollectionName): RecordService<T & BaseRecord>;
  /** Runs `fn` in a transaction: commits when it resolves (with its value), rolls back and rethrows when it throws. */
  tx<R>(fn: (tx: Transaction) => R | Promise<R>): Promise<R>;
  kv: KvStore;
  files: FileStore;
  jobs: JobQueue;
  secrets: SecretStore;
  trace: Tracer;
  utils: Utils;
}

// ---------------------------------------------------------------------------
// Handlers a bundle exports

/** The `env` of `fetch(request, env, ctx)` (bindings are reached through `pb`, so it is empty). */
export interface Env {}

/** The `ctx` of `fetch(request, env, ctx)`, as on Cloudflare Workers. */
export interface ExecutionContext {
  /** Keeps the invocation until `promise` settles (a rejection is logged). */
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}

/** `export default { fetch }`, or one export per method: `export const GET: FetchHandler`. */
export type FetchHandler = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

export interface ExportedHandler {
  fetch: FetchHandler;
}

/** What a job handler gets besides its payload. */
export interface JobMeta {
  id: string;
  name: string;
  /** 1 on the first run. */
  attempt: number;
}

/** `export async function name(payload, job)`: resolving completes the job, throwing fails the attempt (retried with backoff). */
export type JobHandler<P = unknown> = (payload: P, job: JobMeta) => unknown;

export interface CronTick {
  /** The manifest's `func`. */
  name: string;
  /** The expression, e.g. `0 8 * * *`. */
  schedule: string;
  /** The tick's scheduled time, ms since the Unix epoch. */
  scheduledTime: number;
}

/** `export async function name(tick)`, named by a cron schedule of the manifest. */
export type CronHandler = (tick: CronTick) => unknown;

export type HookEvent = "beforeCreate" | "afterCreate" | "beforeUpdate" | "afterUpdate" | "beforeDelete" | "afterDelete";

export interface HookContext<T> {
  collection: string;
  event: HookEvent;
  /** The record before the write (updates and deletes), else null. */
  oldRecord: T | null;
  /** 0 for a write from outside; +1 for each hook-made write below it. */
  depth: number;
}

/**
 * `export function name(record, ctx)` bound by the manifest's `hooks`: a
 * before-hook returning a record writes that instead, returning nothing
 * keeps it, throwing refuses the write with the error's message.
 */
export type HookHandler<T = AnyRecord> = (
  record: T,
  ctx: HookContext<T>,
) => T | RecordInput<T> | void | Promise<T | RecordInput<T> | void>;

declare global {
  /** The host's capabilities: records, transactions, KV, files, jobs, secrets, tracing. */
  const pb: Pb;
}
