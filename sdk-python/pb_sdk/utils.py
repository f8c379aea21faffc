"""``pb:utils``: small helpers computed by the host."""

from . import _bindings
from .errors import Invalid


def uuid() -> str:
    """A UUID version 7 (time-ordered), lowercase with hyphens."""
    return _bindings.module("helpers").uuid()


def hash(data: bytes | str, algorithm: str = "sha256") -> str:
    """The digest of ``data`` as lowercase hex (sha256, sha384 or sha512)."""
    types = _bindings.module("types")
    data = data.encode() if isinstance(data, str) else bytes(data)
    try:
        return _bindings.module("helpers").hash(data, algorithm)
    except types.Err as e:
        raise Invalid(str(e.value)) from None
