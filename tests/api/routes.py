"""Every route of the app as (path template, methods), for tests that must cover routes added later."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing

PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def app_routes(app: FastAPI) -> list[tuple[str, frozenset[str]]]:
    """(path, methods) of every route, included routers flattened (FastAPI >= 0.165 keeps them as
    lazy `_IncludedRouter` entries of `app.routes`; older versions list the routes themselves)."""
    flatten = getattr(fastapi_routing, "iter_route_contexts", None)
    routes: Iterable[Any] = flatten(app.routes) if flatten else app.routes
    found = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        assert path and methods, f"{route!r}: not an HTTP route (a mount or websocket?); extend this helper"
        found.append((path, frozenset(methods)))
    # Nothing in the OpenAPI document may be missing from the enumeration.
    documented = {(p, m.upper()) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= {(p, m) for p, ms in found for m in ms}, "routes the enumeration missed"
    return found


def path_params(path: str) -> list[str]:
    return [m.group(1) for m in PATH_PARAM.finditer(path)]


def fill(path: str, values: dict[str, str]) -> str:
    return PATH_PARAM.sub(lambda m: values[m.group(1)], path)
