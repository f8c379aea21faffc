//! UTF-8 in native code: JS string ⇄ bytes is hot on every body.

use javy::quickjs::{Ctx, Exception, Function, Object, Result, String as JsString, TypedArray};

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    pbs.set("utf8Encode", Function::new(ctx.clone(), encode)?)?;
    pbs.set("utf8Decode", Function::new(ctx.clone(), decode)?)?;
    Ok(())
}

/// A JS string as UTF-8; lone surrogates become U+FFFD.
pub fn to_rust_string<'js>(ctx: &Ctx<'js>, s: &JsString<'js>) -> String {
    match s.to_string() {
        Ok(s) => s,
        Err(e) => javy::to_string_lossy(ctx, s, e),
    }
}

fn encode<'js>(ctx: Ctx<'js>, s: JsString<'js>) -> Result<TypedArray<'js, u8>> {
    let text = to_rust_string(&ctx, &s);
    TypedArray::new(ctx, text.into_bytes())
}

fn decode<'js>(ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, fatal: bool) -> Result<String> {
    let bytes = bytes.as_bytes().unwrap_or(&[]);
    if fatal {
        return std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| {
            Exception::throw_type(&ctx, &format!("The encoded data was not valid UTF-8: {e}"))
        });
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}
