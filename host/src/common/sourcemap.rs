//! Source maps: carried inside the built component (a custom section), kept
//! with the version, and used to show stack traces at `.ts` positions.

use std::sync::OnceLock;

/// The file name the engine evaluates the bundle under; stack frames say
/// `bundle.js:LINE:COLUMN`.
pub const BUNDLE_NAME: &str = "bundle.js";
/// The custom section holding the source map.
pub const SECTION: &str = "pbs-sourcemap";
/// The custom section listing the bundle's exports (a JSON array).
pub const EXPORTS_SECTION: &str = "pbs-js-exports";

/// A source map, parsed on first use (most versions never log an error).
pub struct SourceMapper {
    raw: Vec<u8>,
    parsed: OnceLock<Option<sourcemap::SourceMap>>,
}

impl SourceMapper {
    pub fn new(raw: Vec<u8>) -> Self {
        SourceMapper {
            raw,
            parsed: OnceLock::new(),
        }
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    fn map(&self) -> Option<&sourcemap::SourceMap> {
        self.parsed
            .get_or_init(|| sourcemap::SourceMap::from_slice(&self.raw).ok())
            .as_ref()
    }

    /// Rewrites every `bundle.js:L:C` in `text` to `src/file.ts:L:C` (1-based
    /// lines and columns, as stack traces print them).
    pub fn map_text(&self, text: &str) -> String {
        let needle = format!("{BUNDLE_NAME}:");
        if !text.contains(&needle) {
            return text.to_string();
        }
        let Some(map) = self.map() else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(&needle) {
            out.push_str(&rest[..at]);
            let after = &rest[at + needle.len()..];
            match parse_position(after) {
                Some((line, col, used)) => {
                    let (line0, col0) = (line.saturating_sub(1), col.saturating_sub(1));
                    // The nearest mapping at or before the position, on the same line.
                    let token = map
                        .lookup_token(line0, col0)
                        .filter(|t| t.get_dst_line() == line0);
                    match token
                        .and_then(|t| Some((t.get_source()?, t.get_src_line(), t.get_src_col())))
                    {
                        Some((source, l, c)) => {
                            out.push_str(&format!("{source}:{}:{}", l + 1, c + 1));
                        }
                        None => out.push_str(&rest[at..at + needle.len() + used]),
                    }
                    rest = &after[used..];
                }
                None => {
                    out.push_str(&needle);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `LINE:COL` or `LINE` at the start of `s`: (line, col, bytes used).
fn parse_position(s: &str) -> Option<(u32, u32, usize)> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(s);
    let line: u32 = s[..n].parse().ok()?;
    let rest = &s[n..];
    if let Some(r) = rest.strip_prefix(':') {
        let m = digits(r);
        if m > 0 {
            let col: u32 = r[..m].parse().ok()?;
            return Some((line, col, n + 1 + m));
        }
    }
    Some((line, 1, n))
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `data` to `component` as the custom section `section`.
pub fn embed(mut component: Vec<u8>, section: &str, data: &[u8]) -> Vec<u8> {
    let mut name = Vec::new();
    leb128(section.len(), &mut name);
    name.extend_from_slice(section.as_bytes());
    component.push(0); // custom section id
    leb128(name.len() + data.len(), &mut component);
    component.extend_from_slice(&name);
    component.extend_from_slice(data);
    component
}

/// The custom section `section` of a component built by `pbs build`.
pub fn extract(component: &[u8], section: &str) -> Option<Vec<u8>> {
    let parser = wasmparser::Parser::new(0);
    for payload in parser.parse_all(component) {
        match payload.ok()? {
            wasmparser::Payload::CustomSection(s) if s.name() == section => {
                return Some(s.data().to_vec())
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse() {
        assert_eq!(parse_position("12:5)"), Some((12, 5, 4)));
        assert_eq!(parse_position("7\n"), Some((7, 1, 1)));
        assert_eq!(parse_position("x"), None);
    }

    #[test]
    fn embedded_map_comes_back() {
        // The smallest component: magic + component version/layer.
        let component = b"\0asm\x0d\0\x01\0".to_vec();
        let with = embed(component, SECTION, b"{\"version\":3}");
        assert_eq!(
            extract(&with, SECTION).as_deref(),
            Some(&b"{\"version\":3}"[..])
        );
        assert_eq!(extract(&with, EXPORTS_SECTION), None);
    }
}
