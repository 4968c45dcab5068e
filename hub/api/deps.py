"""Dependencies of the routes, as Annotated aliases: the wired hub, a database connection, the actor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection

from hub.api.problems import Problem
from hub.api.security import Actor, authenticate
from hub.bootstrap import Hub

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
