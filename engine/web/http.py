"""The web API's request, response and error types, and the query parameters it reads: what the HTTP
shell (engine/web/server.py) hands to ``WebApp.handle`` and gets back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """A request the API refuses: HTTP status, a message, and the problems behind it (if any)."""

    def __init__(self, status: int, message: str, problems: list[dict[str, Any]] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        """The JSON body of the error answer."""
        return {"error": self.message, "problems": self.problems, **self.extra}


@dataclass(frozen=True)
class Request:
    """What the HTTP layer hands over: method, path, query (one value per name), body and the origin to
    link back to (``http://host:port``)."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = ""


@dataclass(frozen=True)
class Response:
    """Status, content type and body; ``headers`` adds to the HTTP layer's defaults."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """A JSON answer."""
        return cls(status, "application/json", json.dumps(data, ensure_ascii=False, default=str).encode())

    def data(self) -> Any:
        """The decoded JSON body (for tests and scripts)."""
        return json.loads(self.body)



def flag(request: Request, name: str, default: bool) -> bool:
    """A true/false query parameter (1/0, yes/no too), ``default`` when absent."""
    value = request.query.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ApiError(400, f"query parameter {name!r} must be true or false")


def query_value(value: Any) -> str:
    """A constraint value as a query parameter writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
