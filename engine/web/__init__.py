"""`tuneplan serve`: a local web page and JSON API over a rules directory (recommend, check, lint, diff,
edit). ``api`` answers requests without sockets; ``server`` is the HTTP shell; ``static/`` the page."""

from engine.web.api import WebApp
from engine.web.http import ApiError, Request, Response
from engine.web.server import MAX_BODY_BYTES, TuneplanServer, make_server

__all__ = ["MAX_BODY_BYTES", "ApiError", "Request", "Response", "TuneplanServer", "WebApp", "make_server"]
