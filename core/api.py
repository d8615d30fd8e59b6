"""The JSON API under /api/v1: flask-smorest, token auth and one error shape for every failure.

Every error, from any route, answers ``{"status", "code", "message", "errors"}`` where
``errors`` maps a field name to its messages (validation failures only). Pages under
other paths get an HTML error page instead.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_smorest import Api, abort
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import fields
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import BadRequest, Conflict, Forbidden, HTTPException, InternalServerError

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
}


def _flatten(messages: Any) -> dict[str, list[str]]:
    """webargs nests messages by location ({"json": {"email": [...]}}); callers want fields."""
    if not isinstance(messages, dict):
        return {"_body": [str(m) for m in (messages if isinstance(messages, list) else [messages])]}
    out: dict[str, list[str]] = {}
    for location, value in messages.items():
        inner = (
            value
            if isinstance(value, dict)
            and location
            in {"json", "query", "form", "headers", "files", "view_args", "querystring"}
            else {location: value}
        )
        for field, msgs in inner.items():
            key = "_body" if field == "_schema" else str(field)
            if isinstance(msgs, dict):
                for sub, sub_msgs in _flatten(msgs).items():
                    out.setdefault(f"{key}.{sub}", []).extend(sub_msgs)
            elif isinstance(msgs, list):
                out.setdefault(key, []).extend(str(m) for m in msgs)
            else:
                out.setdefault(key, []).append(str(msgs))
    return out


def error_body(status: int, message: str, errors: dict[str, list[str]] | None = None) -> dict:
    body: dict[str, Any] = {
        "status": status,
        "code": CODES.get(status, "error"),
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return body


def api_error(status: int, message: str, errors: dict[str, list[str]] | None = None):
    return jsonify(error_body(status, message, errors)), status


def refuse_stale(obj: Any, version: int, noun: str = "record") -> None:
    """409 unless ``version`` (what the caller read) is ``obj``'s: a stale edit never
    overwrites a newer one."""
    if obj.version != version:
        abort(
            409,
            message=f"This {noun} was changed by someone else (version {obj.version}, you "
            f"sent {version}). Reload it and apply your change again.",
        )


def refuse_invalid(exc: Any) -> None:
    """Answer a service's ValidationFailed (field -> messages) as 4xx; nothing is saved."""
    from core.db import db

    db.session.rollback()
    abort(exc.status, message="Invalid input.", errors={"json": exc.errors})


class CrmApi(Api):
    """flask-smorest's Api with our error shape, and HTML error pages outside /api."""

    def handle_http_exception(self, error: HTTPException):
        return handle_http_exception(error)


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    if request.path.startswith("/api/"):
        data = getattr(error, "data", None) or {}
        raw = data.get("messages") or data.get("errors")
        errors = _flatten(raw) if raw else None
        message = data.get("message") or error.description or error.name
        if status == 422 and errors:
            message = "Invalid input: " + "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()
            )
        elif status == 400 and errors:
            message = " ".join(m for msgs in errors.values() for m in msgs)
        response = jsonify(error_body(status, message, errors))
        response.status_code = status
        if error.response is None and status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="crm"'
        for header, value in error.get_headers():
            if header.lower() != "content-type":
                response.headers[header] = value
        for header, value in (data.get("headers") or {}).items():
            response.headers[header] = value
        return response
    return render_template("errors/error.html", error=error, status=status), status


def handle_stale_write(error: Exception):
    """A concurrent edit got there first (optimistic locking): 409, never a silent overwrite."""
    from core.db import db

    db.session.rollback()
    return handle_http_exception(
        Conflict(
            description="This record was changed by someone else meanwhile. Reload it and "
            "apply your change again."
        )
    )


def handle_not_allowed(error: Exception):
    from core.db import db

    db.session.rollback()
    return handle_http_exception(Forbidden(description=str(error)))


def handle_bad_number(error: Exception):
    """A number too large for the database (ids past 2^63 and the like) is the user's error."""
    from core.db import db

    db.session.rollback()
    return handle_http_exception(BadRequest(description="A number in the request is out of range."))


def handle_integrity(error: Exception):
    """Two requests raced to create the same unique thing: the loser gets 409, not 500."""
    from core.db import db

    db.session.rollback()
    log.warning("integrity error on %s %s: %s", request.method, request.path, error)
    return handle_http_exception(
        Conflict(
            description="This conflicts with a record saved at the same moment "
            "(for example the same name or e-mail); reload and check."
        )
    )


def handle_unexpected(error: Exception):
    from core.db import db

    log.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()  # the error page reads the database too
    return handle_http_exception(InternalServerError())


def init_api(app: Flask) -> CrmApi:
    api = CrmApi(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
            "info": {"description": "The CRM's JSON API. Authenticate with a bearer token."},
        },
    )
    from core.users.services import NotAllowed

    app.register_error_handler(StaleDataError, handle_stale_write)
    app.register_error_handler(NotAllowed, handle_not_allowed)
    app.register_error_handler(OverflowError, handle_bad_number)
    app.register_error_handler(sa_exc.DataError, handle_bad_number)
    app.register_error_handler(sa_exc.IntegrityError, handle_integrity)
    app.register_error_handler(Exception, handle_unexpected)
    from core.security import PUBLIC, blueprint_permission

    # The OpenAPI document describes the API; it reveals no data and integrators need it.
    blueprint_permission(app, "api-docs", PUBLIC)
    return api


__all__ = ["ApiBlueprint", "CrmApi", "api_error", "error_body", "init_api"]


class UtcDateTime(fields.DateTime):
    """A stored time (naive UTC) written with its offset: ``2026-05-04T07:00:00Z``."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
