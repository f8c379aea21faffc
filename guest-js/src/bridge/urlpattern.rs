//! `URLPattern` (`../js/42-urlpattern.js`) on Deno's `urlpattern` crate, the
//! way Deno itself uses it: Rust parses a pattern into one regular
//! expression (ECMAScript syntax) and group-name list per URL component, and
//! canonicalises match inputs; JS compiles the expressions with `RegExp` and
//! runs them.

use std::borrow::Cow;

use javy::quickjs::function::Opt;
use javy::quickjs::{Array, Ctx, Exception, Function, Object, Result, Value};
use urlpattern::quirks::{self, EcmaRegexp, StringOrInit, UrlPatternComponent, UrlPatternInit};
use urlpattern::{RegexSyntax, UrlPatternOptions};

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    pbs.set("urlPatternParse", Function::new(ctx.clone(), parse)?)?;
    pbs.set("urlPatternInput", Function::new(ctx.clone(), match_input)?)?;
    Ok(())
}

const COMPONENTS: [&str; 8] = [
    "protocol", "username", "password", "hostname", "port", "pathname", "search", "hash",
];

/// A string input, or an init dictionary as `[protocol, username, password,
/// hostname, port, pathname, search, hash, baseURL]` (`null` = absent).
fn input_of<'a>(ctx: &Ctx<'_>, input: &'a Value<'_>) -> Result<StringOrInit<'a>> {
    if let Some(s) = input.as_string() {
        return Ok(StringOrInit::String(Cow::Owned(s.to_string()?)));
    }
    let Some(array) = input.as_array() else {
        return Err(Exception::throw_type(
            ctx,
            "URLPattern input must be a string or an object",
        ));
    };
    let field = |i: usize| -> Result<Option<String>> { array.get::<Option<String>>(i) };
    Ok(StringOrInit::Init(UrlPatternInit {
        protocol: field(0)?,
        username: field(1)?,
        password: field(2)?,
        hostname: field(3)?,
        port: field(4)?,
        pathname: field(5)?,
        search: field(6)?,
        hash: field(7)?,
        base_url: field(8)?,
    }))
}

/// `[hasRegExpGroups, [patternString, regexpString, groupNames] × 8]`.
fn parse<'js>(
    ctx: Ctx<'js>,
    input: Value<'js>,
    base_url: Opt<Option<String>>,
    ignore_case: bool,
) -> Result<Array<'js>> {
    let type_error =
        |e: urlpattern::Error| Exception::throw_type(&ctx, &format!("Invalid URLPattern: {e}"));
    let input = input_of(&ctx, &input)?;
    let init = quirks::process_construct_pattern_input(input, base_url.0.flatten().as_deref())
        .map_err(type_error)?;
    let options = UrlPatternOptions {
        regex_syntax: RegexSyntax::EcmaScript,
        ignore_case,
    };
    let pattern = quirks::parse_pattern::<EcmaRegexp>(init, options).map_err(type_error)?;
    let result = Array::new(ctx.clone())?;
    result.set(0, pattern.has_regexp_groups)?;
    let parts: [&UrlPatternComponent; 8] = [
        &pattern.protocol,
        &pattern.username,
        &pattern.password,
        &pattern.hostname,
        &pattern.port,
        &pattern.pathname,
        &pattern.search,
        &pattern.hash,
    ];
    for (i, part) in parts.into_iter().enumerate() {
        let item = Array::new(ctx.clone())?;
        item.set(0, part.pattern_string.as_str())?;
        item.set(1, part.regexp_string.as_str())?;
        item.set(2, part.group_name_list.clone())?;
        result.set(i + 1, item)?;
    }
    Ok(result)
}

/// The eight component strings to match, or `null` when the input cannot
/// match anything (an invalid URL); throws for a base URL given with a
/// dictionary.
fn match_input<'js>(
    ctx: Ctx<'js>,
    input: Value<'js>,
    base_url: Opt<Option<String>>,
) -> Result<Value<'js>> {
    let parsed = input_of(&ctx, &input)?;
    let processed = quirks::process_match_input(parsed, base_url.0.flatten().as_deref())
        .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URLPattern input: {e}")))?;
    let Some((input, _)) = processed else {
        return Ok(Value::new_null(ctx));
    };
    let Some(values) = quirks::parse_match_input(input) else {
        return Ok(Value::new_null(ctx));
    };
    let array = Array::new(ctx.clone())?;
    let items = [
        values.protocol,
        values.username,
        values.password,
        values.hostname,
        values.port,
        values.pathname,
        values.search,
        values.hash,
    ];
    debug_assert_eq!(items.len(), COMPONENTS.len());
    for (i, item) in items.into_iter().enumerate() {
        array.set(i, item)?;
    }
    Ok(array.into_value())
}
