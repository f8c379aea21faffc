//! `CompressionStream` / `DecompressionStream` (`../js/36-compression.js`):
//! gzip, zlib ("deflate") and raw DEFLATE ("deflate-raw") with `flate2` on
//! its pure-Rust backend (miniz_oxide).
//!
//! A stream holds a codec here, named by a number. `push` feeds a chunk and
//! returns what came out; `finish` ends the stream (and checks that the
//! compressed input was complete); `drop` forgets an abandoned one. Codecs
//! left at the end of an invocation are dropped with the other handles.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;

use flate2::{Compression, Decompress, FlushDecompress, Status};
use javy::quickjs::{Ctx, Exception, Function, Object, Result, TypedArray};

/// Output is produced in pieces of at most this size per `decompress` call.
const OUT_STEP: usize = 64 * 1024;

enum Codec {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zlib(flate2::write::ZlibEncoder<Vec<u8>>),
    Raw(flate2::write::DeflateEncoder<Vec<u8>>),
    Gunzip(flate2::write::GzDecoder<Vec<u8>>),
    /// zlib or raw DEFLATE; `done` once the end of the stream was seen.
    Inflate {
        state: Decompress,
        done: bool,
    },
}

#[derive(Default)]
struct Table {
    next: u32,
    codecs: HashMap<u32, Codec>,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    let z = Object::new(ctx.clone())?;
    z.set("open", Function::new(ctx.clone(), open)?)?;
    z.set("push", Function::new(ctx.clone(), push)?)?;
    z.set("finish", Function::new(ctx.clone(), finish)?)?;
    z.set("drop", Function::new(ctx.clone(), forget)?)?;
    pbs.set("zlib", z)?;
    Ok(())
}

/// Drops every codec (the end of an invocation).
pub fn clear() {
    let left = TABLE.with(|t| std::mem::take(&mut t.borrow_mut().codecs));
    drop(left);
}

fn type_error(ctx: &Ctx<'_>, message: impl AsRef<str>) -> javy::quickjs::Error {
    Exception::throw_type(ctx, message.as_ref())
}

/// A new codec for `format` ("gzip", "deflate", "deflate-raw").
fn open(ctx: Ctx<'_>, format: String, decompress: bool) -> Result<u32> {
    let level = Compression::default();
    let codec = match (format.as_str(), decompress) {
        ("gzip", false) => Codec::Gzip(flate2::write::GzEncoder::new(Vec::new(), level)),
        ("deflate", false) => Codec::Zlib(flate2::write::ZlibEncoder::new(Vec::new(), level)),
        ("deflate-raw", false) => Codec::Raw(flate2::write::DeflateEncoder::new(Vec::new(), level)),
        ("gzip", true) => Codec::Gunzip(flate2::write::GzDecoder::new(Vec::new())),
        ("deflate", true) => Codec::Inflate {
            state: Decompress::new(true),
            done: false,
        },
        ("deflate-raw", true) => Codec::Inflate {
            state: Decompress::new(false),
            done: false,
        },
        (other, _) => {
            return Err(type_error(
                &ctx,
                format!("Unsupported compression format: {other:?} (gzip, deflate or deflate-raw)"),
            ))
        }
    };
    Ok(TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.next += 1;
        let id = t.next;
        t.codecs.insert(id, codec);
        id
    }))
}

fn with_codec<R>(
    ctx: &Ctx<'_>,
    id: u32,
    f: impl FnOnce(&mut Codec) -> std::result::Result<R, String>,
) -> Result<R> {
    let result = TABLE.with(|t| t.borrow_mut().codecs.get_mut(&id).map(f));
    match result {
        Some(Ok(r)) => Ok(r),
        Some(Err(message)) => {
            TABLE.with(|t| t.borrow_mut().codecs.remove(&id));
            Err(type_error(ctx, message))
        }
        None => Err(type_error(ctx, "the compression stream is closed")),
    }
}

fn take(buf: &mut Vec<u8>) -> Vec<u8> {
    std::mem::take(buf)
}

/// Raw inflate of `input`; refuses data after the end of the stream.
fn inflate(
    state: &mut Decompress,
    done: &mut bool,
    mut input: &[u8],
    flush: FlushDecompress,
) -> std::result::Result<Vec<u8>, String> {
    let mut output = Vec::new();
    loop {
        if *done {
            if !input.is_empty() {
                return Err("Junk found after the end of the compressed data".into());
            }
            return Ok(output);
        }
        output.reserve(OUT_STEP);
        let (before_in, before_out) = (state.total_in(), state.total_out());
        let status = state
            .decompress_vec(input, &mut output, flush)
            .map_err(|e| format!("The compressed data is invalid: {e}"))?;
        let consumed = (state.total_in() - before_in) as usize;
        let produced = (state.total_out() - before_out) as usize;
        input = &input[consumed..];
        match status {
            Status::StreamEnd => *done = true,
            Status::Ok | Status::BufError => {
                if input.is_empty() && produced < OUT_STEP && output.len() < output.capacity() {
                    return Ok(output);
                }
                if consumed == 0 && produced == 0 {
                    return Ok(output);
                }
            }
        }
    }
}

fn push<'js>(ctx: Ctx<'js>, id: u32, chunk: TypedArray<'js, u8>) -> Result<TypedArray<'js, u8>> {
    let input = chunk.as_bytes().unwrap_or(&[]);
    let output = with_codec(&ctx, id, |codec| {
        let io = |e: std::io::Error| e.to_string();
        match codec {
            Codec::Gzip(w) => w.write_all(input).map(|_| take(w.get_mut())).map_err(io),
            Codec::Zlib(w) => w.write_all(input).map(|_| take(w.get_mut())).map_err(io),
            Codec::Raw(w) => w.write_all(input).map(|_| take(w.get_mut())).map_err(io),
            Codec::Gunzip(w) => {
                let mut rest = input;
                while !rest.is_empty() {
                    match w.write(rest) {
                        Ok(0) => {
                            return Err("Junk found after the end of the compressed data".into())
                        }
                        Ok(n) => rest = &rest[n..],
                        Err(e) => return Err(format!("The compressed data is invalid: {e}")),
                    }
                }
                // The decoder keeps what it inflated until it is flushed;
                // a reader must see it now, not when more input comes.
                w.flush()
                    .map_err(|e| format!("The compressed data is invalid: {e}"))?;
                Ok(take(w.get_mut()))
            }
            Codec::Inflate { state, done } => inflate(state, done, input, FlushDecompress::None),
        }
    })?;
    TypedArray::new(ctx, output)
}

/// Ends the stream: the compressor's last bytes, or for a decompressor a
/// check that the input ended where the compressed data does.
fn finish<'js>(ctx: Ctx<'js>, id: u32) -> Result<TypedArray<'js, u8>> {
    let output = with_codec(&ctx, id, |codec| {
        let io = |e: std::io::Error| e.to_string();
        match codec {
            Codec::Gzip(w) => w.try_finish().map(|_| take(w.get_mut())).map_err(io),
            Codec::Zlib(w) => w.try_finish().map(|_| take(w.get_mut())).map_err(io),
            Codec::Raw(w) => w.try_finish().map(|_| take(w.get_mut())).map_err(io),
            Codec::Gunzip(w) => w
                .try_finish()
                .map(|_| take(w.get_mut()))
                .map_err(|_| "The compressed data ended before the end of the gzip stream".into()),
            Codec::Inflate { state, done } => {
                let tail = inflate(state, done, &[], FlushDecompress::Finish)?;
                if !*done {
                    return Err("The compressed data ended before the end of the stream".into());
                }
                Ok(tail)
            }
        }
    })?;
    TABLE.with(|t| t.borrow_mut().codecs.remove(&id));
    TypedArray::new(ctx, output)
}

fn forget(id: u32) {
    TABLE.with(|t| t.borrow_mut().codecs.remove(&id));
}
