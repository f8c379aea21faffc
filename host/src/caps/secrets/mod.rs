//! `pb:secrets` — encrypted secrets.
//!
//! Not implemented on this host yet: `get` answers the typed `unavailable`
//! error.

use crate::caps::bindings::secrets::store::{self, Error, Host};
use crate::engine::Invocation;
use wasmtime::component::{HasData, Linker};

/// Per-call view of an invocation for `pb:secrets`.
pub struct SecretsView;

struct HasSecretsView;
impl HasData for HasSecretsView {
    type Data<'a> = SecretsView;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasSecretsView>(linker, |_| SecretsView)
}

impl Host for SecretsView {
    async fn get(&mut self, _name: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        Ok(Err(Error::Unavailable(crate::caps::unavailable(
            "pb:secrets",
        ))))
    }
}
