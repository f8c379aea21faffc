"""HTTP handlers: ``@http.handler`` on a function from :class:`Request` to a
:class:`Response` (or ``str``, ``bytes``, or anything JSON-serialisable).

    from pb_sdk import http

    @http.handler
    def hello(req: http.Request) -> http.Response:
        return http.Response.json({"hello": req.query.get("name", "world")})

The decorator defines ``IncomingHandler`` in the function's module, which is
what componentize-py exports as ``wasi:http/incoming-handler``: put the
handler in the module you pass to ``componentize`` (or import
``IncomingHandler`` into it). The request body is read whole before the
handler runs (at most ``MAX_BODY`` bytes, else 413) and the response written
whole after it.

A :class:`~pb_sdk.errors.PbError` escaping the handler answers with its
status and PocketBase's error body (``{"status", "message", "data"}``); any
other exception answers 500 and its traceback goes to the host's log.
"""

import json
import sys
import traceback
from urllib.parse import parse_qs

from . import _bindings
from .errors import Internal, Invalid, PbError, Quota

MAX_BODY = 16 << 20
"""The largest request body a handler gets (16 MiB)."""

_WRITE_CHUNK = 4096  # the most one blocking-write-and-flush takes
_READ_CHUNK = 64 << 10


class Request:
    """An HTTP request, read whole."""

    def __init__(self, method: str, path_with_query: str, headers=(), body: bytes = b""):
        self.method = method.upper()
        """``GET``, ``POST``, … (upper case)."""
        self.path, _, self.query_string = path_with_query.partition("?")
        """The path (functions on the host see ``/api/pb_serverless/<name>/…``)."""
        self.query = {k: v[0] for k, v in parse_qs(self.query_string, keep_blank_values=True).items()}
        """The first value of each query parameter, decoded."""
        self.header_list = [(k.lower(), v) for k, v in headers]
        """Every header as ``(lower-case name, bytes)``, in order."""
        self.headers = {}
        """The first value of each header, as text (names in lower case)."""
        for name, value in self.header_list:
            self.headers.setdefault(name, value.decode("latin-1"))
        self.body = body

    def text(self) -> str:
        """The body as UTF-8 text; :class:`Invalid` (400) when it is not."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the request body is not UTF-8 text") from None

    def json(self):
        """The body as JSON; :class:`Invalid` (400) when it is not."""
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise Invalid(f"the request body is not JSON: {e}") from None


class Response:
    """An HTTP response, written whole once the handler returns."""

    def __init__(self, body: bytes | str = b"", status: int = 200, headers: dict | None = None):
        self.status = status
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else bytes(body)

    @classmethod
    def text(cls, text: str, status: int = 200) -> "Response":
        return cls(text, status, {"content-type": "text/plain; charset=utf-8"})

    @classmethod
    def json(cls, value, status: int = 200) -> "Response":
        return cls(json.dumps(value), status, {"content-type": "application/json"})

    @classmethod
    def error(cls, error: PbError) -> "Response":
        """PocketBase's error shape with the error's status."""
        body = {"status": error.status, "message": error.message, "data": {}}
        return cls.json(body, error.status)


def to_response(value) -> Response:
    """What a handler returned, as a :class:`Response`."""
    if isinstance(value, Response):
        return value
    if isinstance(value, str):
        return Response.text(value)
    if isinstance(value, (bytes, bytearray)):
        return Response(bytes(value), headers={"content-type": "application/octet-stream"})
    return Response.json(value)


def handler(fn):
    """Makes ``fn(request) -> response`` the component's HTTP handler."""
    exports = _bindings.module("exports")

    class IncomingHandler(exports.IncomingHandler):
        def handle(self, request, response_out):
            _serve(fn, request, response_out)

    setattr(sys.modules[fn.__module__], "IncomingHandler", IncomingHandler)
    fn.IncomingHandler = IncomingHandler
    return fn


def _serve(fn, request, response_out):
    try:
        response = to_response(fn(_read_request(request)))
    except PbError as e:
        response = Response.error(e)
    except Exception:
        traceback.print_exc()
        response = Response.error(Internal("internal error; see the host's log"))
    _send(response, response_out)


def _read_request(request) -> Request:
    types = _bindings.module("types")
    streams = _bindings.module("streams")
    http = _bindings.module("http")
    method = request.method()
    name = type(method).__name__.removeprefix("Method_")
    method = method.value if name == "Other" else name
    path = request.path_with_query() or "/"
    headers = request.headers().entries()
    body = request.consume()
    stream = body.stream()
    chunks, size = [], 0
    try:
        while True:
            try:
                chunk = stream.blocking_read(_READ_CHUNK)
            except types.Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise Internal("reading the request body failed") from None
            size += len(chunk)
            if size > MAX_BODY:
                e = Quota(f"the request body is larger than {MAX_BODY} bytes")
                e.status = 413
                raise e
            chunks.append(chunk)
    finally:
        stream.__exit__(None, None, None)
    http.IncomingBody.finish(body).__exit__(None, None, None)
    return Request(method, path, headers, b"".join(chunks))


def _send(response: Response, response_out):
    types = _bindings.module("types")
    http = _bindings.module("http")
    fields = http.Fields()
    for name, value in response.headers.items():
        try:
            fields.append(name.lower(), value.encode() if isinstance(value, str) else bytes(value))
        except types.Err:
            pass  # a header wasi:http refuses is left out, not the response
    outgoing = http.OutgoingResponse(fields)
    try:
        outgoing.set_status_code(response.status)
    except types.Err:
        outgoing.set_status_code(500)
    body = outgoing.body()
    http.ResponseOutparam.set(response_out, types.Ok(outgoing))
    stream = body.write()
    try:
        data = response.body
        for i in range(0, len(data), _WRITE_CHUNK):
            stream.blocking_write_and_flush(data[i : i + _WRITE_CHUNK])
    except types.Err:
        return  # the client went away; nothing is left to tell it
    finally:
        stream.__exit__(None, None, None)
    http.OutgoingBody.finish(body, None)
