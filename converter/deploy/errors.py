"""Request errors, typed once so every protocol maps them to the same HTTP status."""

from __future__ import annotations

from converter.core.errors import GraphtoolError

__all__ = ["RequestError", "BadRequest", "NotFound", "TooLarge"]


class RequestError(GraphtoolError):
    """A client's request the server refuses; `status` is the HTTP status it answers with."""

    status = 400


class BadRequest(RequestError):
    """Malformed JSON, wrong tensor names, shapes or dtypes."""


class NotFound(RequestError):
    """An unknown model, version or label."""

    status = 404


class TooLarge(RequestError):
    """A body over the server's size limit."""

    status = 413
