//! What can go wrong with records, once, for both faces: the REST API turns
//! it into PocketBase's `{status, message, data}` and `pb:data` into its WIT
//! `error` variant.

use super::filter::FilterError;
use serde_json::{json, Map, Value};

/// One field's validation error, PocketBase's `{code, message}`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            code,
            message: message.into(),
        }
    }

    pub fn required() -> Self {
        FieldError::new("validation_required", "Cannot be blank.")
    }

    pub fn not_unique() -> Self {
        FieldError::new("validation_not_unique", "Value must be unique.")
    }
}

/// Field errors by field name, in the order they were found.
pub type FieldErrors = Vec<(String, FieldError)>;

#[derive(Debug)]
pub enum DataError {
    /// The collection or record does not exist (or a rule hides it).
    NotFound(String),
    /// Bad input: a message and the field errors (PocketBase's `data`).
    Invalid {
        message: String,
        fields: FieldErrors,
    },
    /// A unique value already taken: like `Invalid` over REST (400 with the
    /// field), `conflict` through `pb:data`.
    Conflict {
        message: String,
        fields: FieldErrors,
    },
    /// A filter, sort or rule that does not parse or names unknown fields.
    BadFilter {
        what: &'static str,
        error: FilterError,
    },
    /// An access rule forbids it.
    Denied(String),
    /// A limit was reached.
    Quota(String),
    /// A record hook could not run or failed (trapped, timed out, its
    /// function is gone): the write is refused. (A hook that *rejects* the
    /// write is `Invalid` with its message.)
    HookFailed(String),
    /// The host failed; the details were logged.
    Internal,
}

pub type DataResult<T> = Result<T, DataError>;

impl DataError {
    pub fn invalid(message: impl Into<String>) -> Self {
        DataError::Invalid {
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn field(message: &str, name: &str, error: FieldError) -> Self {
        DataError::Invalid {
            message: message.into(),
            fields: vec![(name.to_string(), error)],
        }
    }

    pub fn missing_collection(name: &str) -> Self {
        DataError::NotFound(format!(
            "Missing collection context: no collection named {:?}.",
            clip(name)
        ))
    }

    pub fn missing_record() -> Self {
        DataError::NotFound("The requested resource wasn't found.".into())
    }

    pub fn superusers_only() -> Self {
        DataError::Denied("Only superusers can perform this action.".into())
    }

    /// Logs a database error in full; the caller gets [`DataError::Internal`].
    pub fn db(op: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(target: "pb.data", "{op} failed: {e}");
        DataError::Internal
    }

    /// The case of `pb:data`'s WIT `error` this is.
    pub fn case(&self) -> &'static str {
        match self {
            DataError::NotFound(_) => "not-found",
            DataError::Invalid { .. } | DataError::BadFilter { .. } => "invalid",
            DataError::Conflict { .. } => "conflict",
            DataError::Denied(_) => "denied",
            DataError::Quota(_) => "quota",
            DataError::HookFailed(_) | DataError::Internal => "internal",
        }
    }

    /// The HTTP status of the REST reply: its case's ([`super::status`]).
    pub fn status(&self) -> u16 {
        super::status::error_status(self.case())
    }

    /// The whole message, field errors included (for `pb:data` and logs).
    pub fn message(&self) -> String {
        match self {
            DataError::NotFound(m)
            | DataError::Denied(m)
            | DataError::Quota(m)
            | DataError::HookFailed(m) => m.clone(),
            DataError::Invalid { message, fields } | DataError::Conflict { message, fields } => {
                let mut out = message.clone();
                for (name, e) in fields {
                    out.push_str(&format!(" {name}: {} ({})", e.message, e.code));
                }
                out
            }
            DataError::BadFilter { what, error } => format!(
                "Invalid {what}: {} (at position {}).",
                error.message, error.position
            ),
            DataError::Internal => {
                "pb:data failed on the host; the host's log has the details".into()
            }
        }
    }

    /// PocketBase's error body.
    pub fn body(&self) -> Value {
        let status = self.status();
        let mut data = Map::new();
        let message = match self {
            DataError::Invalid { message, fields } | DataError::Conflict { message, fields } => {
                for (name, e) in fields {
                    data.insert(name.clone(), json!({"code": e.code, "message": e.message}));
                }
                message.clone()
            }
            DataError::Internal => "Something went wrong while processing your request.".into(),
            other => other.message(),
        };
        json!({"status": status, "message": message, "data": data})
    }
}

/// At most 64 characters of a client's text, for messages.
pub fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}
