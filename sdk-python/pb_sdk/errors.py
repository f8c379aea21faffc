"""One exception per kind of failure of a ``pb:*`` call.

Every capability answers a failure with a WIT ``error`` variant; the SDK
raises it as the matching subclass of :class:`PbError`, which carries the
host's message and the HTTP status an ``@http.handler`` answers with when it
escapes the handler.
"""

from . import _bindings


class PbError(Exception):
    """A ``pb:*`` call failed. ``kind`` is the WIT variant's name."""

    kind = "internal"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class NotFound(PbError):
    """The collection, record or key does not exist (404)."""

    kind, status = "not-found", 404


class Invalid(PbError):
    """The input was rejected: bad JSON, bad filter, unknown field … (400)."""

    kind, status = "invalid", 400


class Denied(PbError):
    """An access rule or the function's permissions forbid it (403)."""

    kind, status = "denied", 403


class Conflict(PbError):
    """A unique constraint or a concurrent change conflicts (409)."""

    kind, status = "conflict", 409


class Quota(PbError):
    """A limit was reached (429)."""

    kind, status = "quota", 429


class Unavailable(PbError):
    """The capability is not available on this host (503): e.g. pb:kv under
    ``pbs serve component.wasm``, which has no database."""

    kind, status = "unavailable", 503


class Internal(PbError):
    """The host failed; details are in its log (500)."""

    kind, status = "internal", 500


_BY_KIND = {
    cls.__name__: cls for cls in (NotFound, Invalid, Denied, Conflict, Quota, Unavailable, Internal)
}


def from_variant(variant) -> PbError:
    """The exception for a generated ``Error_<Kind>(value)`` variant."""
    kind = type(variant).__name__.removeprefix("Error_")
    return _BY_KIND.get(kind, Internal)(str(getattr(variant, "value", variant)))


def call(fn, *args):
    """``fn(*args)``, with a WIT error raised as its :class:`PbError`."""
    err = _bindings.module("types").Err
    try:
        return fn(*args)
    except err as e:
        raise from_variant(e.value) from None
