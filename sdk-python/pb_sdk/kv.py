"""``pb:kv``: key-value state with TTLs, counters and locks.

    from pb_sdk import kv

    store = kv.open()                      # the function's own namespace
    n = store.incr("visits")               # a counter
    store.set_json("last", {"who": "ana"}, ttl=3600)
    last = store.get_json("last")          # None when absent or expired
    if store.lock("nightly", ttl=60): ...  # only one caller gets it

TTLs are in seconds (floats allowed). Failures raise :mod:`pb_sdk.errors`.
"""

import json

from . import _bindings
from .errors import Invalid, call

_KEYS_PAGE = 1000


def _ttl_ms(ttl):
    if ttl is None:
        return None
    if ttl <= 0:
        raise Invalid("a TTL must be a positive number of seconds")
    return max(1, int(ttl * 1000 + 0.999))


def _bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class Bucket:
    """A namespace of keys (see :func:`open`)."""

    def __init__(self, raw):
        self.raw = raw
        """The generated ``Bucket`` resource."""

    def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        return call(self.raw.get, key)

    def get_str(self, key: str) -> str | None:
        value = self.get(key)
        return None if value is None else value.decode("utf-8")

    def get_json(self, key: str):
        value = self.get(key)
        return None if value is None else json.loads(value)

    def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        """Sets the value; it expires after ``ttl`` seconds if given."""
        call(self.raw.set, key, _bytes(value), _ttl_ms(ttl))

    def set_json(self, key: str, value, ttl: float | None = None) -> None:
        self.set(key, json.dumps(value), ttl)

    def delete(self, key: str) -> bool:
        """True when a key was removed."""
        return call(self.raw.delete, key)

    def incr(self, key: str, delta: int = 1) -> int:
        """Adds ``delta`` to a decimal counter (absent = 0); the new value."""
        return call(self.raw.incr, key, delta)

    def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        """Sets only when absent (or expired); True when this call set it."""
        return call(self.raw.set_if_absent, key, _bytes(value), _ttl_ms(ttl))

    def lock(self, key: str, ttl: float) -> bool:
        """A lock held for ``ttl`` seconds unless deleted: True when taken."""
        return self.set_if_absent(key, b"locked", ttl)

    def compare_and_swap(self, key: str, expected, value, ttl: float | None = None) -> bool:
        """Sets ``value`` only when the current value is ``expected`` (None =
        absent); True when it did."""
        expected = None if expected is None else _bytes(expected)
        return call(self.raw.compare_and_swap, key, expected, _bytes(value), _ttl_ms(ttl))

    def keys(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, in order."""
        keys, cursor = [], None
        while True:
            page = call(self.raw.list_keys, prefix, cursor, _KEYS_PAGE)
            keys.extend(page.keys)
            if page.cursor is None:
                return keys
            cursor = page.cursor

    def set_in(self, tx, key: str, value: bytes | str, ttl: float | None = None) -> None:
        """``set`` inside a :func:`pb_sdk.data.transaction`."""
        call(self.raw.set_in, tx.raw, key, _bytes(value), _ttl_ms(ttl))

    def delete_in(self, tx, key: str) -> bool:
        return call(self.raw.delete_in, tx.raw, key)


def open(namespace: str | None = None) -> Bucket:
    """The function's own namespace, or ``"shared"`` (seen by every function)."""
    return Bucket(call(_bindings.module("kv").open, namespace))
