//! Redaction of secret values in a guest's log output.
//!
//! Every value an invocation reads through `pb:secrets` (or that the host
//! substitutes into one of its outbound requests) is added to that
//! invocation's [`Redactor`]; the guest's log paths — `pb:trace` messages,
//! fields and spans ([`super`]), stdout and stderr ([`super::output`]) —
//! replace each occurrence with [`REDACTED`] before the line is written.
//!
//! What it catches: the exact value, anywhere in a message; for a value of
//! several lines (a PEM key), each of its lines of [`MIN_LINE_LEN`]
//! characters or more too, since stdout is logged line by line. What it
//! cannot catch: a value the guest transforms (encodes, reverses, splits
//! across log calls) — redaction is a safety net, not a sandbox.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Shortest line of a multi-line value that is redacted on its own.
pub const MIN_LINE_LEN: usize = 8;

/// The values one invocation must not log. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Redactor {
    patterns: Arc<RwLock<Vec<Box<str>>>>,
}

impl Redactor {
    /// Adds `value` (and its long lines, for a multi-line value).
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut new: Vec<&str> = vec![value];
        if value.contains('\n') {
            new.extend(
                value
                    .lines()
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| l.len() >= MIN_LINE_LEN),
            );
        }
        let Ok(mut patterns) = self.patterns.write() else {
            return;
        };
        for p in new {
            if !patterns.iter().any(|q| &**q == p) {
                patterns.push(p.into());
            }
        }
        // Longest first, so a value containing another is replaced whole.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    }

    /// `text` with every known value replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Ok(patterns) = self.patterns.read() else {
            return Cow::Borrowed(text);
        };
        let mut out = Cow::Borrowed(text);
        for p in patterns.iter() {
            if out.contains(&**p) {
                out = Cow::Owned(out.replace(&**p, REDACTED));
            }
        }
        out
    }

    /// Like [`Redactor::redact`], for an owned string.
    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }

    /// The values, longest first (for redacting bytes elsewhere).
    pub fn patterns(&self) -> Vec<Box<str>> {
        self.patterns.read().map(|p| p.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let r = Redactor::default();
        assert_eq!(r.redact("nothing yet"), "nothing yet");
        r.add("sk-abc");
        r.add("sk-abcdef");
        r.add("");
        assert_eq!(
            r.redact("a sk-abcdef b sk-abc c sk-abcdef"),
            "a [redacted] b [redacted] c [redacted]"
        );
        assert!(matches!(r.redact("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn lines_of_a_multi_line_value_are_redacted_alone() {
        let r = Redactor::default();
        r.add("-----BEGIN KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0B\nabc\n-----END KEY-----");
        assert_eq!(r.redact("MIIEvQIBADANBgkqhkiG9w0B"), "[redacted]");
        assert_eq!(r.redact("abc"), "abc", "short lines stay");
    }
}
