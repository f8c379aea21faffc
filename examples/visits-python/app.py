"""The visits example in Python, with the pb_sdk package (sdk-python/):
``GET ?who=NAME`` counts the visit in pb:kv, stores it as a record of the
``visits`` collection in pb:data, and answers the count and the number of
records for that name; ``GET …/hello`` answers without touching either.

Build (here):
    componentize-py -d ../../wit -w pb:serverless/http-function@0.1.0 \\
        componentize app -p . -p ../../sdk-python -o visits.wasm
Deploy (here): pbs deploy
"""

import re

from pb_sdk import Invalid, data, http, kv

VALID_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # safe inside a filter's quotes


@http.handler
def visits(req: http.Request):
    if req.path.endswith("/hello"):
        return http.Response.text("hello from python\n")
    who = req.query.get("who", "anonymous")
    if not VALID_NAME.fullmatch(who):
        raise Invalid("`who` must be 1 to 40 letters, digits, - or _")
    n = kv.open().incr(f"visits:{who}")
    collection = data.collection("visits")
    record = collection.create({"who": who, "n": n, "lang": "python"})
    page = collection.list(filter=f'who = "{who}" && lang = "python"', per_page=1)
    return {"lang": "python", "who": who, "n": n, "id": record["id"], "visits": page.total_items}
