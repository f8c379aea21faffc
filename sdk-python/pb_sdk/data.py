"""``pb:data``: records, lists, vector search and transactions.

Records are dicts with the system fields ``id``, ``created`` and ``updated``
next to yours; pass ``as_type=`` (a dataclass, or any callable taking the
dict) to get your own type instead. Fields to write may be a dict or a
dataclass.

    from pb_sdk import data

    notes = data.collection("notes")
    note = notes.create({"text": "buy oat milk", "done": False})
    page = notes.list(filter='done = false', sort="-created", per_page=50)
    for n in page.items: ...
    notes.update(note["id"], {"done": True})

    with data.transaction() as tx:           # commits, or rolls back on an exception
        n = tx.collection("notes").create({"text": "in a transaction"})
        kv.open().set_in(tx, "last-note", n["id"])

Failures raise :mod:`pb_sdk.errors` (``NotFound``, ``Invalid`` …).
"""

import dataclasses
import json
from typing import Any, Callable, NamedTuple

from . import _bindings
from .errors import Invalid, call


class Page(NamedTuple):
    page: int
    per_page: int
    total_items: int
    """-1 when counting was skipped (``skip_total=True``)."""
    total_pages: int
    items: list


class Scored(NamedTuple):
    record: Any
    score: float
    """Cosine similarity to the query (1 = same direction)."""


def _encode(fields) -> str:
    if dataclasses.is_dataclass(fields) and not isinstance(fields, type):
        fields = dataclasses.asdict(fields)
    if not isinstance(fields, dict):
        raise Invalid("a record's fields must be a dict or a dataclass")
    return json.dumps(fields)


def _decode(text: str, as_type: Callable | None):
    record = json.loads(text)
    if as_type is None:
        return record
    if dataclasses.is_dataclass(as_type):
        names = {f.name for f in dataclasses.fields(as_type) if f.init}
        return as_type(**{k: v for k, v in record.items() if k in names})
    return as_type(record)


class Collection:
    """The records of one collection (see :func:`collection` and
    :meth:`Transaction.collection`)."""

    def __init__(self, name: str, target):
        self.name = name
        self._t = target  # the records module, or a transaction resource

    def get(self, id: str, as_type=None):
        """The record; :class:`~pb_sdk.errors.NotFound` when there is none."""
        return _decode(call(self._t.get_one, self.name, id), as_type)

    def list(self, filter=None, sort=None, page=None, per_page=None, fields=None,
             skip_total=False, as_type=None) -> Page:
        """One page of records (PocketBase's filter and sort syntax)."""
        types = _bindings.module("data_types")
        options = types.ListOptions(filter, sort, page, per_page, fields, skip_total)
        result = call(self._t.get_list, self.name, options)
        items = [_decode(r, as_type) for r in result.items]
        return Page(result.page, result.per_page, result.total_items, result.total_pages, items)

    def first(self, filter: str, as_type=None):
        """The first record matching ``filter``; ``NotFound`` when none does."""
        return _decode(call(self._t.get_first_list_item, self.name, filter), as_type)

    def create(self, fields, as_type=None):
        """Creates a record; returns it as stored (with its id and dates)."""
        return _decode(call(self._t.create, self.name, _encode(fields)), as_type)

    def update(self, id: str, patch, as_type=None):
        """Applies the fields of ``patch``; returns the record."""
        return _decode(call(self._t.update, self.name, id, _encode(patch)), as_type)

    def delete(self, id: str) -> None:
        call(self._t.delete, self.name, id)

    def search(self, field: str, vector, top: int = 10, filter=None, as_type=None) -> list:
        """Records nearest to ``vector`` by their ``vector(N)`` field ``field``."""
        types = _bindings.module("data_types")
        query = types.VectorQuery(field, [float(x) for x in vector], filter, top)
        hits = call(self._t.vector_search, self.name, query)
        return [Scored(_decode(h.record, as_type), h.score) for h in hits]


def collection(name: str) -> Collection:
    """Collection ``name``, outside any transaction."""
    return Collection(name, _bindings.module("records"))


class Transaction:
    """A ``pb:data`` transaction: records, ``pb:kv`` writes (``set_in``) and
    job enqueues (``jobs.enqueue(..., tx=)``) made through it commit together.
    Use it as a context manager: it commits at the end of the block and rolls
    back when the block raises."""

    def __init__(self):
        self.raw = call(_bindings.module("records").begin)

    def collection(self, name: str) -> Collection:
        return Collection(name, self.raw)

    def commit(self) -> None:
        call(self.raw.commit)

    def rollback(self) -> None:
        call(self.raw.rollback)

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.raw.__exit__(None, None, None)
        return False


def transaction() -> Transaction:
    """Starts a transaction (use with ``with``)."""
    return Transaction()
