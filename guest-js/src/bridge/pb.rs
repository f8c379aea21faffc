//! `__pbs.pb(op, args)`: the `pb:*` imports, for the typed layer generated
//! from the WIT (`../ts/wit.generated.ts`) under the `pb` global
//! (`../ts/pb.ts`). `op` names a WIT function ([`Op`], generated too: this
//! file's `match` covers every one); arguments mirror the WIT parameters in
//! order — records as objects with camelCase field names, `option` absent as
//! `undefined` (or null), `list<u8>` as a Uint8Array, 64-bit integers as
//! numbers, resources as the numbers this file hands out. `op#text` answers a
//! `list<u8>` that is UTF-8 text as a string. A WIT error becomes a thrown
//! `PbError` whose `code` is the error case.

use std::cell::RefCell;
use std::collections::HashMap;

use javy::quickjs::{
    Array, Ctx, Exception, FromJs, Function, IntoJs, Object, Result, TypedArray, Value,
};

use crate::pb::data::records::{self, Transaction};
use crate::pb::data::types::{ListOptions, VectorQuery};
use crate::pb::files::storage;
use crate::pb::jobs::queue;
use crate::pb::kv::store::{self as kv, Bucket};
use crate::pb::secrets::store as secrets;
use crate::pb::trace::tracing::{self, Field, Level, Span};
use crate::pb::utils::helpers;

use super::ops::Op;

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    pbs.set("pb", Function::new(ctx.clone(), call)?)?;
    Ok(())
}

/// Resources JS holds by number.
struct Handles<T> {
    next: u32,
    items: HashMap<u32, T>,
}

impl<T> Handles<T> {
    fn new() -> Self {
        Self {
            next: 0,
            items: HashMap::new(),
        }
    }
    fn insert(&mut self, item: T) -> u32 {
        self.next += 1;
        self.items.insert(self.next, item);
        self.next
    }
}

thread_local! {
    static TXS: RefCell<Handles<Transaction>> = RefCell::new(Handles::new());
    static BUCKETS: RefCell<Handles<Bucket>> = RefCell::new(Handles::new());
    static SPANS: RefCell<Handles<Span>> = RefCell::new(Handles::new());
}

/// A WIT error case as (code, message).
trait Coded {
    fn coded(self) -> (&'static str, String);
}

macro_rules! coded {
    ($ty:path { $($case:ident => $code:literal),* $(,)? }) => {
        impl Coded for $ty {
            fn coded(self) -> (&'static str, String) {
                use $ty as E;
                match self { $(E::$case(m) => ($code, m)),* }
            }
        }
    };
}

coded!(crate::pb::data::types::Error { NotFound => "not-found", Invalid => "invalid", Denied => "denied", Conflict => "conflict", Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
coded!(kv::Error { Invalid => "invalid", Denied => "denied", Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
coded!(storage::Error { NotFound => "not-found", Invalid => "invalid", Denied => "denied", Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
coded!(queue::Error { Invalid => "invalid", NotFound => "not-found", Denied => "denied", Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
coded!(secrets::Error { Invalid => "invalid", Denied => "denied", Unavailable => "unavailable", Internal => "internal" });

/// The HTTP status of each `pb:data` error case: the host's own table,
/// compiled in here too so that the two cannot disagree.
mod data_status {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../host/src/caps/data/status.rs"
    ));
}

/// Throws a `PbError` with the case's `code`, the `op`, and for a record
/// operation (`data/records.*`) the `status` the records REST API gives it
/// (as the PocketBase SDK's errors carry).
fn throw_coded(ctx: &Ctx<'_>, op: &str, e: impl Coded) -> javy::quickjs::Error {
    let (code, message) = e.coded();
    let thrown = Exception::from_message(ctx.clone(), &message).and_then(|ex| {
        ex.as_object().set("name", "PbError")?;
        ex.as_object().set("code", code)?;
        ex.as_object().set("op", op)?;
        if op.starts_with("data/") {
            ex.as_object()
                .set("status", data_status::error_status(code))?;
        }
        Ok(ex)
    });
    match thrown {
        Ok(ex) => ex.throw(),
        Err(e) => e,
    }
}

/// The `i`th argument converted, or a TypeError naming the op.
fn arg<'js, T: FromJs<'js>>(ctx: &Ctx<'js>, op: &str, args: &Array<'js>, i: usize) -> Result<T> {
    args.get::<T>(i).map_err(|_| {
        Exception::throw_type(
            ctx,
            &format!("pb {op}: argument {} has the wrong type", i + 1),
        )
    })
}

fn bytes<'js>(ctx: &Ctx<'js>, op: &str, args: &Array<'js>, i: usize) -> Result<Vec<u8>> {
    let array: TypedArray<u8> = arg(ctx, op, args, i)?;
    Ok(array.as_bytes().unwrap_or(&[]).to_vec())
}

fn opt_bytes<'js>(
    ctx: &Ctx<'js>,
    op: &str,
    args: &Array<'js>,
    i: usize,
) -> Result<Option<Vec<u8>>> {
    let v: Value = args.get(i)?;
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    bytes(ctx, op, args, i).map(Some)
}

fn field<'js, T: FromJs<'js>>(
    ctx: &Ctx<'js>,
    op: &str,
    obj: &Object<'js>,
    name: &str,
) -> Result<T> {
    obj.get::<_, T>(name).map_err(|_| {
        Exception::throw_type(ctx, &format!("pb {op}: option `{name}` has the wrong type"))
    })
}

fn list_options<'js>(ctx: &Ctx<'js>, op: &str, o: &Object<'js>) -> Result<ListOptions> {
    Ok(ListOptions {
        filter: field(ctx, op, o, "filter")?,
        sort: field(ctx, op, o, "sort")?,
        page: field(ctx, op, o, "page")?,
        per_page: field(ctx, op, o, "perPage")?,
        fields: field(ctx, op, o, "fields")?,
        skip_total: field::<Option<bool>>(ctx, op, o, "skipTotal")?.unwrap_or(false),
    })
}

fn vector_query<'js>(ctx: &Ctx<'js>, op: &str, o: &Object<'js>) -> Result<VectorQuery> {
    let vector: Vec<f64> = field(ctx, op, o, "vector")?;
    Ok(VectorQuery {
        field: field(ctx, op, o, "field")?,
        vector: vector.into_iter().map(|x| x as f32).collect(),
        filter: field(ctx, op, o, "filter")?,
        top: field::<Option<u32>>(ctx, op, o, "top")?.unwrap_or(10),
    })
}

fn enqueue_options<'js>(
    ctx: &Ctx<'js>,
    op: &str,
    o: &Object<'js>,
) -> Result<queue::EnqueueOptions> {
    Ok(queue::EnqueueOptions {
        delay_ms: field::<Option<f64>>(ctx, op, o, "delayMs")?.map(|x| x as u64),
        max_attempts: field(ctx, op, o, "maxAttempts")?,
        dedupe_key: field(ctx, op, o, "dedupeKey")?,
        priority: field(ctx, op, o, "priority")?,
    })
}

fn list_result<'js>(ctx: &Ctx<'js>, r: crate::pb::data::types::ListResult) -> Result<Value<'js>> {
    let o = Object::new(ctx.clone())?;
    o.set("page", r.page)?;
    o.set("perPage", r.per_page)?;
    o.set("totalItems", r.total_items as f64)?;
    o.set("totalPages", r.total_pages as f64)?;
    o.set("items", r.items)?;
    Ok(o.into_value())
}

fn scored<'js>(
    ctx: &Ctx<'js>,
    list: Vec<crate::pb::data::types::ScoredRecord>,
) -> Result<Value<'js>> {
    let array = Array::new(ctx.clone())?;
    for (i, s) in list.into_iter().enumerate() {
        let o = Object::new(ctx.clone())?;
        o.set("record", s.record)?;
        o.set("score", f64::from(s.score))?;
        array.set(i, o)?;
    }
    Ok(array.into_value())
}

fn job_status<'js>(ctx: &Ctx<'js>, s: Option<queue::JobStatus>) -> Result<Value<'js>> {
    let Some(s) = s else {
        return Ok(Value::new_undefined(ctx.clone()));
    };
    let o = Object::new(ctx.clone())?;
    o.set("id", s.id)?;
    o.set("name", s.name)?;
    let state = match s.state {
        queue::JobState::Queued => "queued",
        queue::JobState::Running => "running",
        queue::JobState::Completed => "completed",
        queue::JobState::Failed => "failed",
        queue::JobState::Dead => "dead",
        queue::JobState::Cancelled => "cancelled",
    };
    o.set("state", state)?;
    o.set("attempts", s.attempts)?;
    o.set("maxAttempts", s.max_attempts)?;
    o.set("lastError", s.last_error)?;
    o.set("createdMs", s.created_ms as f64)?;
    o.set("updatedMs", s.updated_ms as f64)?;
    Ok(o.into_value())
}

fn file_info<'js>(ctx: &Ctx<'js>, f: storage::FileInfo) -> Result<Value<'js>> {
    let o = Object::new(ctx.clone())?;
    o.set("filename", f.filename)?;
    o.set("size", f.size as f64)?;
    o.set("modifiedMs", f.modified_ms as f64)?;
    Ok(o.into_value())
}

/// A `list<field>`: an array of `{key, value}` (values as strings).
fn fields_arg<'js>(ctx: &Ctx<'js>, op: &str, args: &Array<'js>, i: usize) -> Result<Vec<Field>> {
    let list: Vec<Object> = arg(ctx, op, args, i)?;
    list.iter()
        .map(|f| {
            Ok(Field {
                key: field(ctx, op, f, "key")?,
                value: field(ctx, op, f, "value")?,
            })
        })
        .collect()
}

fn level(name: &str) -> Level {
    match name {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => Level::Info,
    }
}

fn with_tx<R>(
    ctx: &Ctx<'_>,
    op: &str,
    handle: u32,
    f: impl FnOnce(&Transaction) -> R,
) -> Result<R> {
    TXS.with(|t| t.borrow().items.get(&handle).map(f))
        .ok_or_else(|| Exception::throw_type(ctx, &format!("pb {op}: the transaction is finished")))
}

fn with_bucket<R>(ctx: &Ctx<'_>, op: &str, handle: u32, f: impl FnOnce(&Bucket) -> R) -> Result<R> {
    BUCKETS
        .with(|t| t.borrow().items.get(&handle).map(f))
        .ok_or_else(|| Exception::throw_type(ctx, &format!("pb {op}: unknown bucket")))
}

/// `list<u8>` out as a Uint8Array, or (`text`) as a string when it is UTF-8
/// text (a leading BOM dropped, as TextDecoder does).
fn u8s<'js>(ctx: &Ctx<'js>, v: Vec<u8>, text: bool) -> Result<Value<'js>> {
    if text {
        match String::from_utf8(v) {
            Ok(s) => {
                let s = s.strip_prefix('\u{feff}').unwrap_or(&s);
                return Ok(javy::quickjs::String::from_str(ctx.clone(), s)?.into_value());
            }
            Err(e) => return Ok(TypedArray::new(ctx.clone(), e.into_bytes())?.into_value()),
        }
    }
    Ok(TypedArray::new(ctx.clone(), v)?.into_value())
}

fn opt_u8s<'js>(ctx: &Ctx<'js>, v: Option<Vec<u8>>, text: bool) -> Result<Value<'js>> {
    match v {
        Some(v) => u8s(ctx, v, text),
        None => Ok(Value::new_undefined(ctx.clone())),
    }
}

fn call<'js>(ctx: Ctx<'js>, op: String, args: Array<'js>) -> Result<Value<'js>> {
    // format_args!: no string is built unless it is needed (every pb call
    // passes here).
    super::forbid_at_build_time(&ctx, format_args!("pb ({op})"))?;
    let c = &ctx;
    let (name, text) = match op.split_once('#') {
        Some((name, "text")) => (name, true),
        Some(_) => (op.as_str(), false),
        None => (op.as_str(), false),
    };
    let Some(which) = Op::parse(name) else {
        return Err(Exception::throw_type(
            c,
            &format!("pb: unknown operation {op:?}"),
        ));
    };
    let o = which.name();
    let s = |i| arg::<String>(c, o, &args, i);
    let n = |i| arg::<u32>(c, o, &args, i);
    let obj = |i| arg::<Object>(c, o, &args, i);
    let ttl = |i| arg::<Option<f64>>(c, o, &args, i).map(|t| t.map(|t| t as u64));
    macro_rules! done {
        ($r:expr, $ok:expr) => {
            match $r {
                Ok(v) => ($ok)(v),
                Err(e) => Err(throw_coded(c, o, e)),
            }
        };
        ($r:expr) => {
            match $r {
                Ok(v) => v.into_js(c),
                Err(e) => Err(throw_coded(c, o, e)),
            }
        };
    }
    match which {
        // pb:data/records
        Op::DataRecordsGetOne => done!(records::get_one(&s(0)?, &s(1)?)),
        Op::DataRecordsGetList => done!(
            records::get_list(&s(0)?, &list_options(c, o, &obj(1)?)?),
            |r| list_result(c, r)
        ),
        Op::DataRecordsGetFirstListItem => done!(records::get_first_list_item(&s(0)?, &s(1)?)),
        Op::DataRecordsCreate => done!(records::create(&s(0)?, &s(1)?)),
        Op::DataRecordsUpdate => done!(records::update(&s(0)?, &s(1)?, &s(2)?)),
        Op::DataRecordsDelete => done!(records::delete(&s(0)?, &s(1)?)),
        Op::DataRecordsVectorSearch => done!(
            records::vector_search(&s(0)?, &vector_query(c, o, &obj(1)?)?),
            |r| scored(c, r)
        ),
        Op::DataRecordsBegin => done!(records::begin(), |tx| TXS
            .with(|t| t.borrow_mut().insert(tx))
            .into_js(c)),
        // pb:data transaction methods: the handle first, then the WIT parameters.
        Op::DataRecordsTransactionGetOne => {
            let (collection, id) = (s(1)?, s(2)?);
            done!(with_tx(c, o, n(0)?, |tx| tx.get_one(&collection, &id))?)
        }
        Op::DataRecordsTransactionGetList => {
            let options = list_options(c, o, &obj(2)?)?;
            let collection = s(1)?;
            done!(
                with_tx(c, o, n(0)?, |tx| tx.get_list(&collection, &options))?,
                |r| list_result(c, r)
            )
        }
        Op::DataRecordsTransactionGetFirstListItem => {
            let (collection, filter) = (s(1)?, s(2)?);
            done!(with_tx(c, o, n(0)?, |tx| tx
                .get_first_list_item(&collection, &filter))?)
        }
        Op::DataRecordsTransactionCreate => {
            let (collection, record) = (s(1)?, s(2)?);
            done!(with_tx(c, o, n(0)?, |tx| tx.create(&collection, &record))?)
        }
        Op::DataRecordsTransactionUpdate => {
            let (collection, id, patch) = (s(1)?, s(2)?, s(3)?);
            done!(with_tx(c, o, n(0)?, |tx| tx.update(
                &collection,
                &id,
                &patch
            ))?)
        }
        Op::DataRecordsTransactionDelete => {
            let (collection, id) = (s(1)?, s(2)?);
            done!(with_tx(c, o, n(0)?, |tx| tx.delete(&collection, &id))?)
        }
        Op::DataRecordsTransactionVectorSearch => {
            let query = vector_query(c, o, &obj(2)?)?;
            let collection = s(1)?;
            done!(
                with_tx(c, o, n(0)?, |tx| tx.vector_search(&collection, &query))?,
                |r| scored(c, r)
            )
        }
        Op::DataRecordsTransactionCommit | Op::DataRecordsTransactionRollback => {
            let handle = n(0)?;
            let tx = TXS
                .with(|t| t.borrow_mut().items.remove(&handle))
                .ok_or_else(|| {
                    Exception::throw_type(c, &format!("pb {o}: the transaction is finished"))
                })?;
            let result = if which == Op::DataRecordsTransactionCommit {
                tx.commit()
            } else {
                tx.rollback()
            };
            done!(result)
        }
        // pb:kv/store
        Op::KvStoreOpen => {
            let namespace: Option<String> = arg(c, o, &args, 0)?;
            done!(kv::open(namespace.as_deref()), |b| BUCKETS
                .with(|t| t.borrow_mut().insert(b))
                .into_js(c))
        }
        Op::KvStoreBucketGet => {
            let key = s(1)?;
            done!(with_bucket(c, o, n(0)?, |b| b.get(&key))?, |v| opt_u8s(
                c, v, text
            ))
        }
        Op::KvStoreBucketSet => {
            let value = bytes(c, o, &args, 2)?;
            let (key, ttl) = (s(1)?, ttl(3)?);
            done!(with_bucket(c, o, n(0)?, |b| b.set(&key, &value, ttl))?)
        }
        Op::KvStoreBucketDelete => {
            let key = s(1)?;
            done!(with_bucket(c, o, n(0)?, |b| b.delete(&key))?)
        }
        Op::KvStoreBucketIncr => {
            let delta: f64 = arg(c, o, &args, 2)?;
            let key = s(1)?;
            done!(
                with_bucket(c, o, n(0)?, |b| b.incr(&key, delta as i64))?,
                |v: i64| (v as f64).into_js(c)
            )
        }
        Op::KvStoreBucketSetIfAbsent => {
            let value = bytes(c, o, &args, 2)?;
            let (key, ttl) = (s(1)?, ttl(3)?);
            done!(with_bucket(c, o, n(0)?, |b| b.set_if_absent(&key, &value, ttl))?)
        }
        Op::KvStoreBucketCompareAndSwap => {
            let expected = opt_bytes(c, o, &args, 2)?;
            let value = bytes(c, o, &args, 3)?;
            let (key, ttl) = (s(1)?, ttl(4)?);
            done!(with_bucket(c, o, n(0)?, |b| b.compare_and_swap(
                &key,
                expected.as_deref(),
                &value,
                ttl
            ))?)
        }
        Op::KvStoreBucketListKeys => {
            let cursor: Option<String> = arg(c, o, &args, 2)?;
            let limit: Option<u32> = arg(c, o, &args, 3)?;
            let prefix = s(1)?;
            done!(
                with_bucket(c, o, n(0)?, |b| b.list_keys(
                    &prefix,
                    cursor.as_deref(),
                    limit
                ))?,
                |page: kv::KeyPage| {
                    let r = Object::new(c.clone())?;
                    r.set("keys", page.keys)?;
                    r.set("cursor", page.cursor)?;
                    Ok(r.into_value())
                }
            )
        }
        Op::KvStoreBucketSetIn => {
            let value = bytes(c, o, &args, 3)?;
            let (key, ttl, tx) = (s(2)?, ttl(4)?, n(1)?);
            done!(with_bucket(c, o, n(0)?, |b| with_tx(c, o, tx, |tx| b
                .set_in(tx, &key, &value, ttl)))??)
        }
        Op::KvStoreBucketDeleteIn => {
            let (key, tx) = (s(2)?, n(1)?);
            done!(with_bucket(c, o, n(0)?, |b| with_tx(c, o, tx, |tx| b
                .delete_in(tx, &key)))??)
        }
        // pb:files/storage
        Op::FilesStorageRead => done!(storage::read(&s(0)?, &s(1)?, &s(2)?), |v| u8s(c, v, text)),
        Op::FilesStorageSave => {
            let data = bytes(c, o, &args, 3)?;
            done!(storage::save(&s(0)?, &s(1)?, &s(2)?, &data), |f| file_info(
                c, f
            ))
        }
        Op::FilesStorageDelete => done!(storage::delete(&s(0)?, &s(1)?, &s(2)?)),
        Op::FilesStorageList => done!(storage::list(&s(0)?, &s(1)?), |list: Vec<
            storage::FileInfo,
        >| {
            let array = Array::new(c.clone())?;
            for (i, f) in list.into_iter().enumerate() {
                array.set(i, file_info(c, f)?)?;
            }
            Ok(array.into_value())
        }),
        // pb:jobs/queue
        Op::JobsQueueEnqueue => done!(queue::enqueue(
            &s(0)?,
            &s(1)?,
            &enqueue_options(c, o, &obj(2)?)?
        )),
        Op::JobsQueueEnqueueIn => {
            let options = enqueue_options(c, o, &obj(3)?)?;
            let (name, payload) = (s(1)?, s(2)?);
            done!(with_tx(c, o, n(0)?, |tx| queue::enqueue_in(
                tx, &name, &payload, &options
            ))?)
        }
        Op::JobsQueueStatus => done!(queue::status(&s(0)?), |st| job_status(c, st)),
        // pb:secrets/store
        Op::SecretsStoreGet => done!(secrets::get(&s(0)?)),
        // pb:trace/tracing (infallible)
        Op::TraceTracingLog => {
            tracing::log(level(&s(0)?), &s(1)?, &fields_arg(c, o, &args, 2)?);
            Ok(Value::new_undefined(c.clone()))
        }
        Op::TraceTracingLogJson => {
            tracing::log_json(level(&s(0)?), &s(1)?, &s(2)?);
            Ok(Value::new_undefined(c.clone()))
        }
        Op::TraceTracingSpanNew => {
            let span = Span::new(&s(0)?, &fields_arg(c, o, &args, 1)?);
            SPANS.with(|t| t.borrow_mut().insert(span)).into_js(c)
        }
        Op::TraceTracingSpanSetAttribute => {
            let handle = n(0)?;
            let (key, value) = (s(1)?, s(2)?);
            SPANS.with(|t| {
                t.borrow()
                    .items
                    .get(&handle)
                    .map(|sp| sp.set_attribute(&key, &value))
            });
            Ok(Value::new_undefined(c.clone()))
        }
        Op::TraceTracingSpanRecordError => {
            let handle = n(0)?;
            let message = s(1)?;
            SPANS.with(|t| {
                t.borrow()
                    .items
                    .get(&handle)
                    .map(|sp| sp.record_error(&message))
            });
            Ok(Value::new_undefined(c.clone()))
        }
        Op::TraceTracingSpanEnd => {
            let handle = n(0)?;
            if let Some(span) = SPANS.with(|t| t.borrow_mut().items.remove(&handle)) {
                span.end();
            }
            Ok(Value::new_undefined(c.clone()))
        }
        Op::TraceTracingTraceId => tracing::trace_id().into_js(c),
        // pb:utils/helpers
        Op::UtilsHelpersUuid => helpers::uuid().into_js(c),
        Op::UtilsHelpersHash => {
            let data = bytes(c, o, &args, 0)?;
            helpers::hash(&data, &s(1)?)
                .map_err(|m| Exception::throw_type(c, &m))?
                .into_js(c)
        }
    }
}
