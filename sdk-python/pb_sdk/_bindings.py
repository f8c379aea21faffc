"""The generated bindings this package wraps.

componentize-py generates the package ``wit_world`` from the world given to
it (``-w pb:serverless/http-function@0.1.0`` or any world that includes
``pb:serverless/imports``); inside such a world the module names below are
fixed. Imported lazily, so that ``import pb_sdk`` works in an editor or a
plain interpreter (where calling into the host is impossible anyway).
"""

import importlib

_MODULES = {
    "records": "wit_world.imports.records",
    "data_types": "wit_world.imports.pb_data_types",
    "kv": "wit_world.imports.pb_kv_store",
    "jobs": "wit_world.imports.queue",
    "secrets": "wit_world.imports.pb_secrets_store",
    "tracing": "wit_world.imports.tracing",
    "helpers": "wit_world.imports.helpers",
    "http": "wit_world.imports.wasi_http_types",
    "streams": "wit_world.imports.streams",
    "exports": "wit_world.exports",
    "types": "componentize_py_types",
}


def module(name: str):
    """The generated module ``name`` (a key of ``_MODULES``)."""
    try:
        return importlib.import_module(_MODULES[name])
    except ImportError as e:
        raise ImportError(
            f"pb_sdk needs the bindings componentize-py generates for a pb-serverless world "
            f"({_MODULES[name]} is missing): build with "
            f"`componentize-py -d <repo>/wit -w pb:serverless/http-function@0.1.0 componentize app "
            f"-p <repo>/sdk-python -o app.wasm`"
        ) from e
