"""GDPR erasure: find a person's personal values in stored documents, and blank them out.

Erasure works on values rather than on a list of columns, because the same name or email also sits
inside history snapshots, decision explanations, audit entries and the bytes of dead letters. The
values are gathered from the customer's snapshots and source payloads, under the keys that carry
personal data; any stored string containing one of them (ignoring case) is replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ERASED = "[erased]"

#: Keys whose values are personal data wherever they appear in a snapshot or a payload.
PERSONAL_KEYS = frozenset(
    {
        "legal_name",
        "trading_name",
        "first_name",
        "last_name",
        "name",
        "full_name",
        "date_of_birth",
        "email",
        "emails",
        "phone",
        "phones",
        "mobile",
        "line1",
        "line2",
        "line3",
        "street",
        "postal_code",
        "tax_ids",
        "tax_id",
        "registration_number",
        "loyalty_cards",
        "loyalty_card",
        "custom_fields",
        "contacts",
        "addresses",
        "address",
        "value",
        "national_id",
    }
)
#: Keys under a personal key that hold codes, not personal data (address kind, country, id scheme).
CODE_KEYS = frozenset({"kind", "country", "primary", "scheme", "valid", "type", "currency", "title"})
#: Keys whose values identify one person on their own, so finding them anywhere ties a row to them.
IDENTIFYING_KEYS = frozenset({"email", "emails", "phone", "phones", "mobile", "tax_ids", "tax_id", "value"})
#: Values too short or too common to blank out by themselves (a city of two letters, a country code).
MIN_LENGTH = 4


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _strings(item)


def _personal(node: Any, inside: bool, keys: frozenset[str]) -> Iterable[str]:
    if isinstance(node, dict):
        for key, item in node.items():
            if key in CODE_KEYS:
                continue
            yield from _personal(item, inside or key in keys, keys)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _personal(item, inside, keys)
    elif inside and isinstance(node, str):
        yield node


def personal_values(documents: Iterable[Any], *, keys: frozenset[str] = PERSONAL_KEYS) -> frozenset[str]:
    """Return the personal values (lower-cased) found under personal keys in the given documents.

    With `keys=IDENTIFYING_KEYS` only the values that identify the person on their own are returned.
    """
    found: set[str] = set()
    for document in documents:
        for value in _personal(document, False, keys):
            text = value.strip().lower()
            if len(text) >= MIN_LENGTH:
                found.add(text)
            # a phone number also appears without its +, and names also appear word by word
            if text.startswith("+") and len(text) > MIN_LENGTH:
                found.add(text[1:])
    return frozenset(found)


def contains_personal(text: str, values: frozenset[str]) -> bool:
    """Tell whether a text contains any of the personal values, ignoring case."""
    lowered = text.lower()
    return any(value in lowered for value in values)


def redact(document: Any, values: frozenset[str], *, blank_keys: frozenset[str] = frozenset()) -> Any:
    """Return the document with every string that contains a personal value (or sits under one of
    `blank_keys`) replaced by `[erased]`; structure, numbers and other strings stay."""
    if isinstance(document, dict):
        return {
            key: (
                ERASED
                if key in blank_keys and isinstance(item, str)
                else redact(item, values, blank_keys=blank_keys)
            )
            for key, item in document.items()
        }
    if isinstance(document, list):
        return [redact(item, values, blank_keys=blank_keys) for item in document]
    if isinstance(document, str) and contains_personal(document, values):
        return ERASED
    return document


def any_personal(document: Any, values: frozenset[str]) -> bool:
    """Tell whether any string in the document contains a personal value."""
    return any(contains_personal(s, values) for s in _strings(document))
