"""Bearer tokens from HUB_API_TOKENS, mapped to roles that each include the one before."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

ROLES = ("viewer", "steward", "admin")


@dataclass(frozen=True)
class Actor:
    """Who calls the API: the name recorded in the audit, and the role that bounds what they may do."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Tell whether this actor's role includes `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)


class TokenConfigError(ValueError):
    """HUB_API_TOKENS is malformed; the message names the entry, never the token."""


def parse_tokens(config: str) -> dict[str, Actor]:
    """Parse `name:token=role` entries, comma-separated."""
    tokens: dict[str, Actor] = {}
    for position, entry in enumerate(e.strip() for e in config.split(",")):
        if not entry:
            continue
        name, sep, rest = entry.partition(":")
        token, sep2, role = rest.rpartition("=")
        if not (sep and sep2 and name and token) or role not in ROLES:
            raise TokenConfigError(
                f"HUB_API_TOKENS entry {position + 1} must be name:token=role, role one of {', '.join(ROLES)}"
            )
        tokens[token] = Actor(name, role)
    return tokens


def authenticate(tokens: dict[str, Actor], presented: str) -> Actor | None:
    """Return the actor a bearer token belongs to, comparing in constant time."""
    for token, actor in tokens.items():
        if hmac.compare_digest(token.encode(), presented.encode()):
            return actor
    return None
