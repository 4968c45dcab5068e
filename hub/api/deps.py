"""Dependencies of the routes, as Annotated aliases: the wired hub, a database connection, the actor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import psycopg.errors
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, Field
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from hub.api.problems import Problem
from hub.api.security import Actor, authenticate
from hub.bootstrap import Hub
from hub.service.intake import unstorable_paths
from hub.store.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a steward's change runs again when PostgreSQL broke its transaction off for a deadlock.
TRANSACTION_ATTEMPTS = 3

bearer = HTTPBearer(auto_error=False)


def get_hub(request: Request) -> Hub:
    """Return the hub the app was built with."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def get_connection(hub: HubDep) -> Iterator[Connection]:
    """Open a read connection for one request."""
    with hub.engine.connect() as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]


def require(role: str) -> Callable[..., Actor]:
    """Return a dependency admitting callers whose token's role includes `role`: 401 without, 403 below."""

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Actor:
        if credentials is None:
            raise Problem(401, "unauthenticated", "send a bearer token from HUB_API_TOKENS")
        actor = authenticate(request.app.state.tokens, credentials.credentials)
        if actor is None:
            raise Problem(401, "unauthenticated", "the bearer token is not known")
        if not actor.may(role):
            raise Problem(403, "forbidden", f"this needs the {role} role; {actor.name} is a {actor.role}")
        return actor

    return dependency


Viewer = Annotated[Actor, Depends(require("viewer"))]
Steward = Annotated[Actor, Depends(require("steward"))]
Admin = Annotated[Actor, Depends(require("admin"))]


def storable(value: T) -> T:
    """Refuse text PostgreSQL cannot store (a NUL, a lone surrogate) in a body field, naming where."""
    for error in unstorable_paths(value):
        where = "" if error.path == "$" else f" at {error.path}"
        raise ValueError(f"{error.message}{where}")
    return value


def _reason(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank: every change is audited with why it was made")
    return storable(text)


#: Why a steward makes a change: audited with it, so never blank.
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_reason)]
ReasonQuery = Annotated[
    str, Query(min_length=1, max_length=2000, description="why; audited"), AfterValidator(_reason)
]


def expected_version(if_match: str | None, body_version: int | None) -> int:
    """Read the version a change is based on, from If-Match (`7` or `"7"`) or the body; 428 without either."""
    if if_match is not None:
        try:
            version = int(if_match.strip().strip('"').removeprefix('W/"').strip('"'))
        except ValueError as error:
            raise Problem(
                400, "invalid_if_match", "If-Match must be the version number, such as 7"
            ) from error
        if body_version is not None and body_version != version:
            raise Problem(
                400,
                "conflicting_versions",
                f"If-Match names version {version} and the body version {body_version}: send one",
            )
        return version
    if body_version is None:
        raise Problem(
            428, "version_required", "send the version the change is based on, as If-Match or version"
        )
    return body_version


def in_transaction(hub: Hub, work: Callable[[UnitOfWork], T]) -> T:
    """Run a steward's change in one transaction, and again when PostgreSQL broke it off for a deadlock
    with the stream (the worker retries its batches the same way): the change is whole or not at all."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with unit_of_work(hub.engine) as uow:
                return work(uow)
        except OperationalError as error:
            retryable = isinstance(
                error.orig, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
            )
            if not retryable or attempt == TRANSACTION_ATTEMPTS:
                raise
            log.warning("a steward change met a deadlock (attempt %d); running it again", attempt)
    raise AssertionError("unreachable")
