"""Read one inbound message into a command, or a precise rejection (SPEC 5 step 1).

Pure apart from the contracts: no database, no broker, so the stream worker, the dead-letter replay
and `hub import` all read messages the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from contracts.inbound import (
    ArExposurePayload,
    CrmPayload,
    EcommercePayload,
    Envelope,
    PosPayload,
    parse_payload,
)
from hub import sources
from hub.domain.model import CleanRecord
from hub.domain.normalise import normalise
from hub.settings import Settings

ErrorCode = Literal[
    "not_utf8",
    "not_json",
    "invalid_envelope",
    "wrong_source",
    "invalid_payload",
    "occurred_in_future",
    "unidentifiable",
    "payload_too_large",
]


@dataclass(frozen=True)
class FieldError:
    """One offending field: its path in the message and what is wrong with it."""

    path: str
    message: str


@dataclass(frozen=True)
class InboundMessage:
    """A message as the broker delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Rejection:
    """Why a message cannot be applied; it goes to the dead-letter topic and table."""

    error_code: ErrorCode
    message: str
    errors: tuple[FieldError, ...] = ()
    message_id: str | None = None


@dataclass(frozen=True)
class ApplySourceChange:
    """Command: apply one source system's change of one source record."""

    message_id: str
    source: str
    source_record_id: str
    change: Literal["upsert", "delete"]
    occurred_at: datetime
    record: CleanRecord | None = None
    payload: dict[str, Any] | None = None
    walk_in: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordExposure:
    """Command: record the full outstanding balance AR reports for one account."""

    message_id: str
    account_id: str
    change: Literal["upsert", "delete"]
    occurred_at: datetime
    named_golden_id: str | None = None
    named_source: str | None = None
    named_source_record_id: str | None = None
    outstanding: Decimal = Decimal("0")
    overdue: Decimal | None = None
    currency: str = ""
    as_of: datetime | None = None


def _path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def field_errors(error: ValidationError, prefix: str = "") -> tuple[FieldError, ...]:
    """Turn pydantic's errors into paths such as `payload.credit.limit`."""
    found: list[FieldError] = []
    for item in error.errors(include_url=False):
        # Union members add their model name to the location; a reader wants the field path only.
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p[:1].isupper()))
        found.append(FieldError(_path(loc, prefix) or prefix or "$", item["msg"]))
    return tuple(found)


NUL_MESSAGE = "must not contain the NUL character (U+0000)"
SURROGATE_MESSAGE = "must not contain an unpaired UTF-16 surrogate (an escape from \\ud800 to \\udfff)"


def _unstorable(text: str) -> str | None:
    """Say why PostgreSQL cannot store a string: a NUL character, or a surrogate JSON escaped alone."""
    if "\x00" in text:
        return NUL_MESSAGE
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return SURROGATE_MESSAGE
    return None


def _readable(text: str) -> str:
    """A key fit to name in an error path: without NULs, with U+FFFD for a lone surrogate."""
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text.replace("\x00", ""))


def unstorable_paths(document: Any, path: str = "") -> list[FieldError]:
    """Return the paths of the strings (values or keys) in a JSON document that PostgreSQL cannot store."""
    found: list[FieldError] = []
    if isinstance(document, str):
        if (why := _unstorable(document)) is not None:
            found.append(FieldError(path or "$", why))
    elif isinstance(document, dict):
        for key, value in document.items():
            clean = _readable(key)
            inner = f"{path}.{clean}" if path else clean
            if (why := _unstorable(key)) is not None:
                found.append(FieldError(inner, why))
            found += unstorable_paths(value, inner)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += unstorable_paths(value, f"{path}[{index}]")
    return found


#: How deep a message's JSON may nest. The contracts nest four levels; a message nested thousands deep
#: would exhaust the stack of every reader after the hub.
MAX_NESTING = 64


def _too_deep() -> Rejection:
    return Rejection(
        "invalid_payload",
        f"the message nests deeper than {MAX_NESTING} levels of objects and arrays",
        (FieldError("$", f"nested deeper than {MAX_NESTING} levels"),),
    )


def _nesting(document: Any) -> int:
    """Return how deep objects and arrays nest in a JSON document, without recursing."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def read_message(
    message: InboundMessage,
    *,
    topic_source: str,
    now: datetime,
    max_clock_skew: timedelta,
    max_message_bytes: int,
) -> ApplySourceChange | RecordExposure | Rejection:
    """Decode, validate and normalise a message from the topic of `topic_source`."""
    if len(message.value) > max_message_bytes:
        return Rejection(
            "payload_too_large",
            f"message of {len(message.value)} bytes exceeds the limit of {max_message_bytes}",
        )
    try:
        text = message.value.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection("not_utf8", f"message is not UTF-8: {error.reason} at byte {error.start}")
    try:
        document = json.loads(text)
    except RecursionError:
        return _too_deep()
    except json.JSONDecodeError as error:
        return Rejection(
            "not_json",
            f"message is not JSON: {error.msg}",
            (FieldError("$", f"{error.msg} at character {error.pos + 1} of the message"),),
        )
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting(document) > MAX_NESTING:
        return _too_deep()
    raw_id = document.get("message_id") if isinstance(document, dict) else None
    message_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 200 else None
    # JSON spells NUL `\\u0000` and a surrogate `\\ud800` to `\\udfff` (either case); only a message
    # holding such an escape is walked
    escaped = "\\u0000" in text or "\\ud" in text or "\\uD" in text
    unstorable = tuple(unstorable_paths(document)) if escaped else ()
    if unstorable:
        in_payload = all(e.path.startswith("payload") for e in unstorable)
        what = {e.message for e in unstorable}
        return Rejection(
            "invalid_payload" if in_payload else "invalid_envelope",
            "text must not contain the NUL character (U+0000), which PostgreSQL cannot store"
            if what == {NUL_MESSAGE}
            else "text must not contain NUL characters or unpaired UTF-16 surrogates, which PostgreSQL"
            " cannot store",
            unstorable,
            message_id if message_id is not None and _unstorable(message_id) is None else None,
        )
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as error:
        return Rejection(
            "invalid_envelope", "the envelope does not follow the contract", field_errors(error), message_id
        )
    if envelope.source != topic_source:
        return Rejection(
            "wrong_source",
            f"source {envelope.source!r} on the {topic_source} topic {message.topic}",
            (FieldError("source", f"expected {topic_source!r}"),),
            envelope.message_id,
        )
    if envelope.occurred_at > now + max_clock_skew:
        return Rejection(
            "occurred_in_future",
            f"occurred_at {envelope.occurred_at.isoformat()} is more than {max_clock_skew} "
            "ahead of the hub's clock",
            (FieldError("occurred_at", "in the future"),),
            envelope.message_id,
        )
    command = ApplySourceChange(
        message_id=envelope.message_id,
        source=envelope.source,
        source_record_id=envelope.source_record_id,
        change=envelope.change,
        occurred_at=envelope.occurred_at,
    )
    if envelope.change == "delete":
        if envelope.source == "ar":
            return RecordExposure(
                envelope.message_id, envelope.source_record_id, "delete", envelope.occurred_at
            )
        return command
    assert envelope.payload is not None  # the envelope's validator guarantees it for an upsert
    try:
        payload = parse_payload(envelope.source, envelope.payload)
    except ValidationError as error:
        return Rejection(
            "invalid_payload",
            f"the {envelope.source} payload does not follow the contract",
            field_errors(error, "payload"),
            envelope.message_id,
        )
    if isinstance(payload, ArExposurePayload):
        if payload.as_of is not None and payload.as_of > now + max_clock_skew:
            # a balance dated in the future would make every real update of the account stale
            return Rejection(
                "occurred_in_future",
                f"payload.as_of {payload.as_of.isoformat()} is more than {max_clock_skew} ahead of the"
                " hub's clock",
                (FieldError("payload.as_of", "in the future"),),
                envelope.message_id,
            )
        customer = payload.customer
        return RecordExposure(
            message_id=envelope.message_id,
            account_id=envelope.source_record_id,
            change="upsert",
            occurred_at=envelope.occurred_at,
            named_golden_id=getattr(customer, "golden_id", None),
            named_source=getattr(customer, "source", None),
            named_source_record_id=getattr(customer, "source_record_id", None),
            outstanding=Decimal(payload.outstanding),
            overdue=None if payload.overdue is None else Decimal(payload.overdue),
            currency=payload.currency,
            as_of=payload.as_of,
        )
    return _with_record(command, payload, envelope.payload)


def read_with_settings(
    message: InboundMessage, *, topic_source: str, now: datetime, settings: Settings
) -> ApplySourceChange | RecordExposure | Rejection:
    """`read_message` with the limits the hub is configured with."""
    return read_message(
        message,
        topic_source=topic_source,
        now=now,
        max_clock_skew=settings.max_clock_skew,
        max_message_bytes=settings.max_message_bytes,
    )


def _with_record(
    command: ApplySourceChange, payload: BaseModel, document: dict[str, Any]
) -> ApplySourceChange | Rejection:
    key, at = command.source_record_id, command.occurred_at
    if isinstance(payload, PosPayload) and sources.is_walk_in(payload):
        return ApplySourceChange(**{**command.__dict__, "walk_in": True, "payload": document})
    if isinstance(payload, CrmPayload):
        record = sources.from_crm(key, at, payload)
    elif isinstance(payload, EcommercePayload):
        record = sources.from_ecommerce(key, at, payload)
    elif isinstance(payload, PosPayload):
        record = sources.from_pos(key, at, payload)
    else:
        raise TypeError(f"no source mapping for {type(payload).__name__}")
    clean = normalise(record)
    if not clean.is_identifiable:
        found = tuple(FieldError(issue.path, issue.message) for issue in clean.issues)
        missing = FieldError("payload", "needs a name, or a valid identifier, email or phone")
        return Rejection(
            "unidentifiable",
            "nothing identifies this customer: no valid name, identifier, email or phone",
            (*found, missing),
            command.message_id,
        )
    return ApplySourceChange(**{**command.__dict__, "record": clean, "payload": document})
