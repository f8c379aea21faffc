"""``pb:trace``: structured logs and spans, exported with OpenTelemetry.

    from pb_sdk import trace
    trace.info("note saved", id=note["id"])
    with trace.span("embed", model="small"):
        ...
"""

from contextlib import contextmanager

from . import _bindings


def _fields(fields: dict):
    tracing = _bindings.module("tracing")
    return [tracing.Field(str(k), str(v)) for k, v in fields.items()]


def log(level: str, message: str, **fields) -> None:
    """``level`` is trace, debug, info, warn or error."""
    tracing = _bindings.module("tracing")
    tracing.log(tracing.Level[level.upper()], message, _fields(fields))


def debug(message: str, **fields) -> None:
    log("debug", message, **fields)


def info(message: str, **fields) -> None:
    log("info", message, **fields)


def warn(message: str, **fields) -> None:
    log("warn", message, **fields)


def error(message: str, **fields) -> None:
    log("error", message, **fields)


@contextmanager
def span(name: str, **fields):
    """A span around the block, a child of the innermost open one; marked
    failed when the block raises."""
    tracing = _bindings.module("tracing")
    s = tracing.Span(name, _fields(fields))
    try:
        yield s
    except BaseException as e:
        s.record_error(str(e))
        raise
    finally:
        s.end()
        s.__exit__(None, None, None)


def trace_id() -> str:
    """The W3C trace id of this invocation (32 hex digits)."""
    return _bindings.module("tracing").trace_id()
