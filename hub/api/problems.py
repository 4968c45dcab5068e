"""Errors as application/problem+json (RFC 9457), with a code a program can branch on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.service.intake import NUL_MESSAGE
from hub.service.stewardship import StewardActionRefused

PROBLEM = "application/problem+json"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An API error: HTTP status, machine-readable code, and a message a person can act on."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def problem_response(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """Render a problem document."""
    body = {
        "type": f"urn:hub:problem:{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def nul_characters(request: Request) -> list[dict[str, str]]:
    """Name the path and query parameters holding a NUL character, which PostgreSQL text cannot store."""
    errors = []
    if "\x00" in request.scope["path"]:
        errors.append({"path": "path", "message": NUL_MESSAGE})
    for name, value in parse_qsl(request.url.query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            errors.append({"path": f"query.{name.replace(chr(0), '')}", "message": NUL_MESSAGE})
    return errors


def install(api: FastAPI) -> None:
    """Make every error of the API a problem document."""

    @api.middleware("http")
    async def refuse_nul_characters(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        errors = nul_characters(request)
        if errors:
            detail = "the request does not follow the API"
            return problem_response(422, "invalid_request", detail, errors=errors)
        return await call_next(request)

    @api.exception_handler(DataError)
    async def on_data_error(request: Request, error: DataError) -> JSONResponse:
        # a NUL inside a JSON body reaches PostgreSQL, which refuses it; the transaction is rolled back
        if "NUL" in str(error.orig):
            return problem_response(
                422,
                "invalid_request",
                "the request does not follow the API",
                errors=[{"path": "body", "message": NUL_MESSAGE}],
            )
        raise error

    @api.exception_handler(OperationalError)
    async def on_database_unavailable(request: Request, error: OperationalError) -> JSONResponse:
        # the database went away, or a deadlock outlived the retries: the transaction was rolled back
        log.error("database error on %s %s: %s", request.method, request.url.path, error.orig)
        return problem_response(
            503,
            "database_unavailable",
            "the database did not complete the request; nothing was changed: retry",
        )

    @api.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return problem_response(500, "internal_error", "the hub failed on this request; nothing was changed")

    @api.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> JSONResponse:
        response = problem_response(error.status, error.code, error.detail, **error.extra)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(StewardActionRefused)
    async def on_refused(request: Request, error: StewardActionRefused) -> JSONResponse:
        # every steward use case refuses the same way: one mapping here, none in the routes
        return problem_response(error.status, error.code, error.message)

    @api.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()]
        return problem_response(422, "invalid_request", "the request does not follow the API", errors=errors)

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return problem_response(error.status_code, code, str(error.detail))
