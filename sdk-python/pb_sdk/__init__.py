"""Write pb-serverless functions in Python with componentize-py.

    from pb_sdk import http, kv, data

    @http.handler
    def visits(req: http.Request):
        n = kv.open().incr("visits")
        record = data.collection("visits").create({"who": req.query.get("who", "you"), "n": n})
        return {"n": n, "id": record["id"]}

Build the module that defines the handler (``app.py`` here) into a component
against the project's WIT, with this package on the path:

    componentize-py -d <repo>/wit -w pb:serverless/http-function@0.1.0 \\
        componentize app -p . -p <repo>/sdk-python -o app.wasm

Modules: :mod:`~pb_sdk.http` (handlers), :mod:`~pb_sdk.kv`,
:mod:`~pb_sdk.data` (records, transactions, vector search),
:mod:`~pb_sdk.jobs`, :mod:`~pb_sdk.trace`, :mod:`~pb_sdk.secrets`,
:mod:`~pb_sdk.utils`; failures are :mod:`~pb_sdk.errors`. The generated
bindings (``wit_world``) stay available for anything not wrapped here.
"""

from . import data, errors, http, jobs, kv, secrets, trace, utils
from .errors import Conflict, Denied, Internal, Invalid, NotFound, PbError, Quota, Unavailable

__all__ = [
    "data", "errors", "http", "jobs", "kv", "secrets", "trace", "utils",
    "PbError", "NotFound", "Invalid", "Denied", "Conflict", "Quota", "Unavailable", "Internal",
]
