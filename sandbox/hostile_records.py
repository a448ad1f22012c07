"""The people API (sandbox/rest_example.py) with one more page style, "lenient": every person in
one page, written the way sloppy providers write JSON. Python's own json writer puts NaN and
Infinity where a float is not finite and escapes a lone surrogate as \\ud800; a value
`Raw("1e400")` is written as it is (a number no double holds). Strict readers such as orjson
refuse such a page whole.
"""

from __future__ import annotations

import json
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.rest_example import PeopleApi
from sandbox.rest_example import create_app as people_app

_RAW_MARK = "\x1eraw:"


class Raw(str):
    """A value written into the page without quotes."""

    def __new__(cls, text: str) -> Raw:
        return super().__new__(cls, _RAW_MARK + text)


def create_app(api: PeopleApi) -> Starlette:
    app = people_app(api)

    async def lenient(request: Request) -> Response:
        if not api.authorized(request):
            return Response('{"error": "bad credentials"}', 401, media_type="application/json")
        text = json.dumps(api.select(request.query_params), allow_nan=True)
        text = re.sub(r'"\\u001eraw:([^"]*)"', r"\1", text)
        return Response(text, media_type="application/json")

    app.router.routes.insert(0, Route("/v1/people/lenient", lenient, methods=["GET"]))
    return app
