//! `pb:data`: records as your own serde types, lists, vector search and
//! transactions.
//!
//! ```no_run
//! use pb_sdk::data::{ListOptions, Page};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Note { text: String, done: bool }
//!
//! # fn main() -> pb_sdk::Result<()> {
//! let notes = pb_sdk::data::collection("notes");
//! let note = notes.create(&Note { text: "buy oat milk".into(), done: false })?;
//! println!("{} created at {}", note.id, note.created);
//! let open: Page<Note> = notes.list(&ListOptions::new().filter("done = false").sort("-created"))?;
//! notes.update::<Note>(&note.id, &serde_json::json!({ "done": true }))?;
//!
//! // Everything in the closure commits together, or not at all.
//! pb_sdk::data::transaction(|tx| {
//!     let n = tx.collection("notes").create(&note.fields)?;
//!     pb_sdk::kv::open()?.set_in(tx, "last-note", &n.id)?;
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

use crate::bindings::pb::data::{records, types};
use crate::Error;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A record: the system fields and your fields, `T`.
///
/// `T` is any serde type; fields of the record that `T` does not name are
/// ignored (`collectionId`, `collectionName` and the like).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record<T> {
    pub id: String,
    /// When it was created, `2024-05-01 10:20:30.123Z` (UTC).
    #[serde(default)]
    pub created: String,
    /// When it was last written.
    #[serde(default)]
    pub updated: String,
    /// Your fields.
    #[serde(flatten)]
    pub fields: T,
}

/// One page of [`Collection::list`].
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
    /// -1 when counting was skipped ([`ListOptions::skip_total`]).
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<Record<T>>,
}

/// A record with its cosine similarity to a query vector (1 = same
/// direction).
#[derive(Clone, Debug, PartialEq)]
pub struct Scored<T> {
    pub record: Record<T>,
    pub score: f32,
}

/// Options of [`Collection::list`], as in PocketBase's records API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    filter: Option<String>,
    sort: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
    fields: Option<String>,
    skip_total: bool,
}

impl ListOptions {
    pub fn new() -> ListOptions {
        ListOptions::default()
    }

    /// PocketBase filter syntax, e.g. `status = "open" && total > 10`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Comma separated fields, `-field` for descending.
    pub fn sort(mut self, sort: impl Into<String>) -> Self {
        self.sort = Some(sort.into());
        self
    }

    /// 1-based page number (default 1).
    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    /// Items per page (default 30, at most 1000).
    pub fn per_page(mut self, per_page: u32) -> Self {
        self.per_page = Some(per_page);
        self
    }

    /// Comma separated fields to return (default all).
    pub fn fields(mut self, fields: impl Into<String>) -> Self {
        self.fields = Some(fields.into());
        self
    }

    /// Skip counting the total (faster; totals come back as -1).
    pub fn skip_total(mut self) -> Self {
        self.skip_total = true;
        self
    }

    fn to_wit(&self) -> types::ListOptions {
        types::ListOptions {
            filter: self.filter.clone(),
            sort: self.sort.clone(),
            page: self.page,
            per_page: self.per_page,
            fields: self.fields.clone(),
            skip_total: self.skip_total,
        }
    }
}

/// A nearest-neighbour query for [`Collection::search`].
#[derive(Clone, Debug, PartialEq)]
pub struct VectorQuery {
    field: String,
    vector: Vec<f32>,
    filter: Option<String>,
    top: u32,
}

impl VectorQuery {
    /// The `top` records whose `vector(N)` field `field` is nearest to
    /// `vector` (of length N).
    pub fn new(field: impl Into<String>, vector: Vec<f32>, top: u32) -> VectorQuery {
        VectorQuery {
            field: field.into(),
            vector,
            filter: None,
            top,
        }
    }

    /// Only among the records matching `filter`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    fn to_wit(&self) -> types::VectorQuery {
        types::VectorQuery {
            field: self.field.clone(),
            vector: self.vector.clone(),
            filter: self.filter.clone(),
            top: self.top,
        }
    }
}

fn decode<T: DeserializeOwned>(json: &str) -> Result<Record<T>, Error> {
    serde_json::from_str(json).map_err(|e| Error::Decode(format!("a record: {e}")))
}

fn encode<T: Serialize + ?Sized>(fields: &T) -> Result<String, Error> {
    let json = serde_json::to_value(fields)?;
    if !json.is_object() {
        return Err(Error::Invalid(
            "a record's fields must serialize to a JSON object".into(),
        ));
    }
    Ok(json.to_string())
}

fn page<T: DeserializeOwned>(result: types::ListResult) -> Result<Page<T>, Error> {
    Ok(Page {
        page: result.page,
        per_page: result.per_page,
        total_items: result.total_items,
        total_pages: result.total_pages,
        items: result
            .items
            .iter()
            .map(|r| decode(r))
            .collect::<Result<_, _>>()?,
    })
}

fn scored<T: DeserializeOwned>(hits: Vec<types::ScoredRecord>) -> Result<Vec<Scored<T>>, Error> {
    hits.into_iter()
        .map(|h| {
            Ok(Scored {
                record: decode(&h.record)?,
                score: h.score,
            })
        })
        .collect()
}

/// Where a collection's calls go: straight to the database, or into a
/// transaction.
#[derive(Clone, Copy)]
enum Target<'a> {
    Direct,
    Tx(&'a records::Transaction),
}

/// The records of one collection (see [`collection`] and
/// [`Transaction::collection`]).
#[derive(Clone)]
pub struct Collection<'a> {
    name: String,
    target: Target<'a>,
}

/// The records of collection `name`, outside any transaction.
pub fn collection(name: &str) -> Collection<'static> {
    Collection {
        name: name.to_string(),
        target: Target::Direct,
    }
}

impl Collection<'_> {
    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The record with this id; `not-found` when there is none.
    pub fn get<T: DeserializeOwned>(&self, id: &str) -> Result<Record<T>, Error> {
        let json = match self.target {
            Target::Direct => records::get_one(&self.name, id)?,
            Target::Tx(tx) => tx.get_one(&self.name, id)?,
        };
        decode(&json)
    }

    /// One page of records.
    pub fn list<T: DeserializeOwned>(&self, options: &ListOptions) -> Result<Page<T>, Error> {
        let options = options.to_wit();
        let result = match self.target {
            Target::Direct => records::get_list(&self.name, &options)?,
            Target::Tx(tx) => tx.get_list(&self.name, &options)?,
        };
        page(result)
    }

    /// The first record matching `filter`; `not-found` when none does.
    pub fn first<T: DeserializeOwned>(&self, filter: &str) -> Result<Record<T>, Error> {
        let json = match self.target {
            Target::Direct => records::get_first_list_item(&self.name, filter)?,
            Target::Tx(tx) => tx.get_first_list_item(&self.name, filter)?,
        };
        decode(&json)
    }

    /// Creates a record from `fields` (a serde value that serializes to an
    /// object) and returns it as stored, with its id and dates.
    pub fn create<T: Serialize + DeserializeOwned>(&self, fields: &T) -> Result<Record<T>, Error> {
        let json = encode(fields)?;
        let created = match self.target {
            Target::Direct => records::create(&self.name, &json)?,
            Target::Tx(tx) => tx.create(&self.name, &json)?,
        };
        decode(&created)
    }

    /// Applies the fields of `patch` (any serde value that serializes to an
    /// object, e.g. `json!({"done": true})`) and returns the record.
    pub fn update<T: DeserializeOwned>(
        &self,
        id: &str,
        patch: &(impl Serialize + ?Sized),
    ) -> Result<Record<T>, Error> {
        let json = encode(patch)?;
        let updated = match self.target {
            Target::Direct => records::update(&self.name, id, &json)?,
            Target::Tx(tx) => tx.update(&self.name, id, &json)?,
        };
        decode(&updated)
    }

    /// Deletes the record; `not-found` when there is none.
    pub fn delete(&self, id: &str) -> Result<(), Error> {
        match self.target {
            Target::Direct => records::delete(&self.name, id)?,
            Target::Tx(tx) => tx.delete(&self.name, id)?,
        }
        Ok(())
    }

    /// Records nearest to the query vector, best first.
    pub fn search<T: DeserializeOwned>(
        &self,
        query: &VectorQuery,
    ) -> Result<Vec<Scored<T>>, Error> {
        let query = query.to_wit();
        let hits = match self.target {
            Target::Direct => records::vector_search(&self.name, &query)?,
            Target::Tx(tx) => tx.vector_search(&self.name, &query)?,
        };
        scored(hits)
    }
}

/// A `pb:data` transaction: records, `pb:kv` writes (`Bucket::set_in`) and
/// job enqueues made through it commit together. See [`transaction`].
pub struct Transaction {
    inner: records::Transaction,
}

impl Transaction {
    /// Starts one. Dropping it without [`commit`](Self::commit) rolls it
    /// back; prefer [`transaction`], which commits or rolls back for you.
    pub fn begin() -> Result<Transaction, Error> {
        Ok(Transaction {
            inner: records::begin()?,
        })
    }

    /// Collection `name` inside this transaction.
    pub fn collection(&self, name: &str) -> Collection<'_> {
        Collection {
            name: name.to_string(),
            target: Target::Tx(&self.inner),
        }
    }

    pub fn commit(self) -> Result<(), Error> {
        Ok(self.inner.commit()?)
    }

    pub fn rollback(self) -> Result<(), Error> {
        Ok(self.inner.rollback()?)
    }

    /// The raw binding (for `pb:kv`'s `set-in`, `pb:jobs`' `enqueue-in`).
    pub fn raw(&self) -> &records::Transaction {
        &self.inner
    }
}

/// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when
/// it returns `Err` (and returns that error).
pub fn transaction<R>(f: impl FnOnce(&Transaction) -> Result<R, Error>) -> Result<R, Error> {
    let tx = Transaction::begin()?;
    match f(&tx) {
        Ok(value) => {
            tx.commit()?;
            Ok(value)
        }
        Err(e) => {
            // The error that stopped `f` is the one that matters.
            let _ = tx.rollback();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
        #[serde(default)]
        done: bool,
    }

    #[test]
    fn records_decode_into_the_callers_type() {
        let json = r#"{"collectionId":"pbc_1","collectionName":"notes","id":"abc",
                       "created":"2024-05-01 10:20:30.123Z","updated":"2024-05-01 10:20:30.123Z",
                       "text":"oat milk","done":true}"#;
        let r: Record<Note> = decode(json).unwrap();
        assert_eq!(r.id, "abc");
        assert_eq!(r.created, "2024-05-01 10:20:30.123Z");
        assert_eq!(
            r.fields,
            Note {
                text: "oat milk".into(),
                done: true
            }
        );
        // Missing fields of `T` are a decode error naming the field.
        let e = decode::<Note>(r#"{"id":"x"}"#).unwrap_err();
        assert!(matches!(&e, Error::Decode(m) if m.contains("text")), "{e}");
        // Loose JSON works too.
        let r: Record<serde_json::Value> = decode(json).unwrap();
        assert_eq!(r.fields["collectionName"], "notes");
    }

    #[test]
    fn fields_must_be_an_object() {
        assert_eq!(
            encode(&Note {
                text: "a".into(),
                done: false
            })
            .unwrap(),
            r#"{"done":false,"text":"a"}"#
        );
        assert!(matches!(encode(&[1, 2]), Err(Error::Invalid(_))));
    }

    #[test]
    fn list_options_map_to_the_wit_record() {
        let o = ListOptions::new()
            .filter("done = false")
            .sort("-created")
            .page(2)
            .per_page(50)
            .skip_total();
        let w = o.to_wit();
        assert_eq!(w.filter.as_deref(), Some("done = false"));
        assert_eq!(w.sort.as_deref(), Some("-created"));
        assert_eq!(
            (w.page, w.per_page, w.fields, w.skip_total),
            (Some(2), Some(50), None, true)
        );
        let q = VectorQuery::new("embedding", vec![0.5, 1.0], 3)
            .filter("done = false")
            .to_wit();
        assert_eq!(
            (q.field.as_str(), q.top, q.filter.as_deref()),
            ("embedding", 3, Some("done = false"))
        );
    }
}
