"""Files for `hub import`: rows of CSV or JSON Lines as inbound envelopes, the checkpoint, the rejects file
and the progress bar. No database here; `hub.service.bulk_import` applies what these read.

JSON Lines: one envelope per line, the same contract as the source topics (SPEC 4). Blank lines are
skipped. A line without `message_id` or `occurred_at` (absent or null) gets the defaults below.

CSV (UTF-8, a header row, comma-separated, RFC 4180 quoting): one source record per row.

- Envelope columns, by name: `source_record_id` (required), and optionally `message_id`, `occurred_at`
  (RFC 3339 with a time zone), `change` (`upsert`, the default, or `delete`) and `source` (when present
  it must be the source the import was started for).
- Every other column is a field of the source's payload, flattened with dots: `legal_name`,
  `credit.limit`, `custom_fields.sales_rep`. A numeric part is a position in a list: `emails.0`,
  `emails.1`, `tax_ids.0.scheme`, `tax_ids.0.value`, `addresses.0.line1`, `contacts.0.primary`. A column
  may be written `payload.<field>` to tell it from an envelope column of the same name.
- An empty cell means absent. A list entry whose cells are all empty is left out and the entries after
  it move up; error paths and columns in the rejects file still name the positions of the file.
- Cells are text, which is what the contract wants for names, codes, dates and money (`"100000.00"`).
  A field the contract types as a boolean (`credit.check_limit`, `contacts.0.primary`,
  `email_verified`, `marketing_opt_in`) reads `true` or `false` (any case); anything else is rejected
  at that field.
- Columns the contract does not know are kept as text with the stored source record, as on the topics.

The example files in `contracts/examples/import/` show the convention for each source.

Defaults of both formats: a row without `message_id` gets `import:<first 16 hex digits of the file's
SHA-256>:<line>`, so importing the same file again applies nothing twice (the rows are duplicates); a
row without `occurred_at` gets the file's modification time, in UTC. Line numbers are the file's
physical lines, counting from 1 (in a CSV the header is line 1; a row spanning several lines by quoting
is numbered by its first line).

Rejected rows go to a JSON Lines rejects file, one object per row: `line`, `message_id` (or null),
`error_code` (those of SPEC 5 step 1, plus `malformed_row` for a CSV row with more or fewer cells than the
header or that is not valid CSV, and `failed` for a row the hub raised an error on), `message`, `errors`
(`path`, `message`, and for CSV the `column` of the file) and `raw` (the line as text, or the CSV row as a
column-to-cell object; a row that is not valid CSV, its first line).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, TextIO

from pydantic import BaseModel

from contracts.inbound import PAYLOAD_MODELS

FileFormat = Literal["csv", "jsonl"]

#: Envelope fields a CSV may carry as columns; everything else is the payload.
ENVELOPE_COLUMNS = ("message_id", "source", "source_record_id", "change", "occurred_at")
PAYLOAD_PREFIX = "payload."
CHECKPOINT_SUFFIX = ".hub-import.json"
REJECTS_SUFFIX = ".rejects.jsonl"
CHECKPOINT_VERSION = 1
UTF8_BOM = b"\xef\xbb\xbf"
#: The longest CSV cell read (the csv module's default is 131,072 characters): a row longer than a message
#: may be is then rejected as payload_too_large, and a longer cell is an error of its row alone.
CSV_FIELD_LIMIT = 16 * 1024 * 1024

Segment = str | int
Path_ = tuple[Segment, ...]


class ImportFileError(ValueError):
    """Refuse a file that cannot be imported at all: unreadable, unknown format, or a bad CSV header."""


# -- the file as a whole ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFacts:
    """What the import needs to know about a file before reading its rows."""

    path: Path
    file_format: FileFormat
    sha256: str
    lines: int
    modified_at: datetime

    @property
    def id_prefix(self) -> str:
        """Return the prefix of the message ids the import gives rows that have none."""
        return f"import:{self.sha256[:16]}"

    def default_message_id(self, line: int) -> str:
        """Return the stable message id of a row without one."""
        return f"{self.id_prefix}:{line}"

    @property
    def default_occurred_at(self) -> str:
        """Return the `occurred_at` of a row without one: the file's modification time."""
        return self.modified_at.isoformat().replace("+00:00", "Z")


def file_format_of(path: Path, given: str | None = None) -> FileFormat:
    """Tell CSV from JSON Lines by the option given, else by the file name's extension."""
    if given is not None:
        if given not in ("csv", "jsonl"):
            raise ImportFileError(f"unknown format {given!r}: csv or jsonl")
        return typing.cast(FileFormat, given)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ImportFileError(
        f"cannot tell the format of {path.name} from its extension: name it .csv or .jsonl, or pass --format"
    )


def inspect_file(path: Path, file_format: str | None = None) -> FileFacts:
    """Hash the file and count its lines (for the stable message ids and the progress bar)."""
    fmt = file_format_of(path, file_format)
    digest = hashlib.sha256()
    lines = 0
    last = b""
    try:
        stat = path.stat()
        if not path.is_file():
            raise ImportFileError(f"{path} is not a file")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror or error}") from error
    if last and last != b"\n":
        lines += 1  # a last line without its newline
    return FileFacts(
        path=path,
        file_format=fmt,
        sha256=digest.hexdigest(),
        lines=lines,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC).replace(microsecond=0),
    )


# -- rows -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRow:
    """One row of the file, as the inbound message the stream would have received."""

    line: int
    #: the envelope as UTF-8 JSON: what `read_message` reads
    value: bytes
    #: the row as the file holds it, for the rejects file: a line of text, or a CSV row's cells by column
    raw: str | dict[str, str]
    key: bytes | None = None
    #: per list of the payload (path in the file), the file's position of each entry kept (CSV only)
    positions: Mapping[Path_, tuple[int, ...]] = field(default_factory=dict)
    #: set when the row could not even be turned into an envelope
    problem: tuple[str, str, tuple[tuple[str, str], ...]] | None = None
    csv: bool = False

    def error_entries(self, errors: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
        """Return the rejects file's `errors`: paths in the file's positions, and for CSV the column."""
        entries = []
        for reported, message in errors:
            path = self.file_path(reported)
            entry = {"path": path, "message": message}
            if self.csv and path != "$":
                entry["column"] = column_of(path)
            entries.append(entry)
        return entries

    def file_path(self, path: str) -> str:
        """Map an error path such as `payload.tax_ids[0].value` back to the entry's position in the file."""
        if not self.positions or not path.startswith("payload."):
            return path
        parts = _parse_error_path(path[len(PAYLOAD_PREFIX) :])
        out: list[Segment] = []
        for part in parts:
            kept = self.positions.get(tuple(out)) if isinstance(part, int) else None
            out.append(
                kept[part] if kept is not None and isinstance(part, int) and part < len(kept) else part
            )
        return "payload" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in out)


def _parse_error_path(text: str) -> list[Segment]:
    parts: list[Segment] = []
    for dotted in text.split("."):
        name, _, rest = dotted.partition("[")
        if name:
            parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index) if index.isdigit() else index)
            rest = rest.removeprefix("[")
    return parts


def column_of(path: str) -> str:
    """Return the CSV column of an error path: `payload.tax_ids[1].value` is `tax_ids.1.value`."""
    path = path.removeprefix(PAYLOAD_PREFIX)
    return path.replace("[", ".").replace("]", "")


def flatten(payload: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a payload into CSV cells by this module's convention (the inverse of reading a row)."""
    cells: dict[str, str] = {}
    for name, value in payload.items():
        column = f"{prefix}{name}"
        if isinstance(value, Mapping):
            cells.update(flatten(value, f"{column}."))
        elif isinstance(value, list | tuple):
            cells.update(flatten({str(i): v for i, v in enumerate(value)}, f"{column}."))
        elif isinstance(value, bool):
            cells[column] = "true" if value else "false"
        elif value is not None:
            cells[column] = str(value)
    return cells


def read_rows(facts: FileFacts, source: str, *, after_line: int = 0) -> Iterator[ImportRow]:
    """Yield the rows of the file past `after_line`, as envelopes with the import's defaults filled in."""
    if facts.file_format == "csv":
        return _csv_rows(facts, source, after_line)
    return _jsonl_rows(facts, after_line)


def _jsonl_rows(facts: FileFacts, after_line: int) -> Iterator[ImportRow]:
    with facts.path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if line <= after_line:
                continue
            value = raw.rstrip(b"\r\n")
            if line == 1:
                value = value.removeprefix(UTF8_BOM)  # as a CSV may begin, and an editor may save it
            if not value.strip():
                continue
            try:
                text = value.decode("utf-8")
                document = json.loads(text)
            except ValueError:
                # Not UTF-8 or not JSON: `read_message` says which, precisely, as the stream does.
                yield ImportRow(line, value, value.decode("utf-8", "backslashreplace"))
                continue
            if isinstance(document, dict):
                filled = False
                if document.get("message_id") is None:
                    document["message_id"] = facts.default_message_id(line)
                    filled = True
                if document.get("occurred_at") is None:
                    document["occurred_at"] = facts.default_occurred_at
                    filled = True
                if filled:
                    value = _encode(document)
                yield ImportRow(line, value, text, _key(document.get("source_record_id")))
            else:
                yield ImportRow(line, value, text)


def _key(source_record_id: Any) -> bytes | None:
    """The row's message key: none for an id that is not text or holds a lone surrogate (the intake
    rejects both)."""
    try:
        return source_record_id.encode() if isinstance(source_record_id, str) else None
    except UnicodeEncodeError:
        return None


def _encode(document: Any) -> bytes:
    """Encode a row's envelope as UTF-8 JSON; a lone surrogate the line escaped stays escaped, so that the
    intake rejects it at its field as the stream does."""
    try:
        return json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(document).encode()


# -- CSV columns ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    """The header of a CSV file, read once: which column is which envelope or payload field."""

    columns: tuple[str, ...]
    envelope: dict[str, int]
    payload: tuple[tuple[int, Path_], ...]
    #: payload paths (with "*" for any list position) that the contract types as booleans
    booleans: frozenset[tuple[str, ...]]
    #: the source the import is for: a row without a `source` cell is from it
    source: str


def _split_column(name: str) -> Path_:
    parts: list[Segment] = []
    for part in name.split("."):
        if part == "":
            raise ImportFileError(f"column {name!r} has an empty part; columns read like credit.limit")
        parts.append(int(part) if part.isdigit() else part)
    if isinstance(parts[0], int):
        raise ImportFileError(f"column {name!r} starts with a number; lists are named, as in emails.0")
    return tuple(parts)


def csv_layout(header: Sequence[str], source: str) -> CsvLayout:
    """Read a CSV header, or raise ImportFileError saying which column breaks the convention."""
    columns = tuple(h.strip() for h in header)
    for index, name in enumerate(columns):
        if _not_utf8(name):
            raise ImportFileError(f"column {index + 1} of the header is not UTF-8")
    seen: set[str] = set()
    envelope: dict[str, int] = {}
    payload: list[tuple[int, Path_]] = []
    for index, name in enumerate(columns):
        if not name:
            raise ImportFileError(f"column {index + 1} of the header has no name")
        if name in seen:
            raise ImportFileError(f"column {name!r} appears twice in the header")
        seen.add(name)
        if name in ENVELOPE_COLUMNS:
            envelope[name] = index
        else:
            payload.append((index, _split_column(name.removeprefix(PAYLOAD_PREFIX))))
    if "source_record_id" not in envelope:
        raise ImportFileError("the CSV header has no source_record_id column, which every row needs")
    _check_shape([p for _, p in payload])
    return CsvLayout(columns, envelope, tuple(payload), boolean_paths(source), source)


def _check_shape(paths: Sequence[Path_]) -> None:
    """Refuse headers whose columns cannot form one document, such as `credit` beside `credit.limit`."""
    leaves: set[Path_] = set(paths)
    kinds: dict[Path_, str] = {}
    for path in paths:
        for depth in range(1, len(path)):
            prefix = path[:depth]
            shown = ".".join(map(str, prefix))
            if prefix in leaves:
                raise ImportFileError(f"column {shown!r} is a value, but other columns nest fields under it")
            kind = "list" if isinstance(path[depth], int) else "object"
            if kinds.setdefault(prefix, kind) != kind:
                raise ImportFileError(f"columns under {shown!r} mix list positions and field names")


def boolean_paths(source: str) -> frozenset[tuple[str, ...]]:
    """Return the payload paths the source's contract types as booleans ("*" for a list position)."""
    return frozenset(path for path, annotation in _contract_leaves(source) if annotation is bool)


def contract_paths(source: str) -> frozenset[tuple[str, ...]]:
    """Return the payload paths the source's contract names ("*" for a list position; a path ending in "**"
    takes anything below it, as the keys of a map)."""
    return frozenset(path for path, _ in _contract_leaves(source))


def _contract_leaves(source: str) -> list[tuple[tuple[str, ...], Any]]:
    """The source's contract as (payload path, type of the value there) pairs."""
    model = PAYLOAD_MODELS.get(source)
    found: list[tuple[tuple[str, ...], Any]] = []
    if model is not None:
        _walk_model(model, (), found, depth=0)
    return found


def _walk_model(
    model: type[BaseModel], prefix: tuple[str, ...], found: list[tuple[tuple[str, ...], Any]], depth: int
) -> None:
    for name, info in model.model_fields.items():
        _walk_type(info.annotation, (*prefix, name), found, depth)


def _walk_type(
    annotation: Any, path: tuple[str, ...], found: list[tuple[tuple[str, ...], Any]], depth: int
) -> None:
    origin = typing.get_origin(annotation)
    if depth > 5:
        found.append(((*path, "**"), Any))
    elif origin is typing.Annotated:
        _walk_type(typing.get_args(annotation)[0], path, found, depth)
    elif origin in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            if member is not type(None):
                _walk_type(member, path, found, depth)
    elif origin is list:
        _walk_type(typing.get_args(annotation)[0], (*path, "*"), found, depth + 1)
    elif origin is dict or annotation is dict:
        found.append(((*path, "**"), annotation))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        _walk_model(annotation, path, found, depth + 1)
    else:
        found.append((path, annotation))


class _Lines:
    """The file's physical lines for the csv reader, remembering those of the record being read so that a
    record that is not valid CSV can be given back but for its first line, and read again from the next."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self._given_back: list[str] = []
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._given_back.pop() if self._given_back else next(self._handle)
        self.taken.append(line)
        return line

    def give_back(self, lines: Sequence[str]) -> None:
        self._given_back.extend(reversed(lines))


def unknown_columns(facts: FileFacts, source: str) -> list[str]:
    """Return the CSV header's payload columns the source's contract does not name (a misspelt `emial` is
    kept as text on the source record, and matches and merges nothing)."""
    if facts.file_format != "csv":
        return []
    with facts.path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        try:
            header = next(csv.reader(handle))
        except (StopIteration, csv.Error):
            return []
    csv_layout(header, source)  # a header that cannot be read refuses the file before anything is said of it
    known = contract_paths(source)
    unknown = []
    for raw in header:
        name = raw.strip()
        if not name or name in ENVELOPE_COLUMNS:
            continue
        parts = tuple("*" if p.isdigit() else p for p in name.removeprefix(PAYLOAD_PREFIX).split("."))
        named = parts in known or any((*parts[:i], "**") in known for i in range(len(parts)))
        if not named:
            unknown.append(name)
    return unknown


def _csv_rows(facts: FileFacts, source: str, after_line: int) -> Iterator[ImportRow]:
    """Read the rows strictly: a quote left open or a stray quote makes its row malformed (csv's lenient
    default reads on to the next quote, taking the rows between into one cell), and the rows after it are
    read from the line after the malformed row's first."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    # surrogateescape: a cell that is not UTF-8 rejects its row (not_utf8), not the whole file.
    with facts.path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportFileError(f"the CSV header cannot be read: {error}") from error
        layout = csv_layout(header, source)
        start = len(lines.taken) + 1
        while True:
            lines.taken = []
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                if "field larger than field limit" in str(error):
                    # where the cell ends is unknown: reading on inside it would take its text for rows
                    raise ImportFileError(
                        f"line {start}: a cell is longer than {CSV_FIELD_LIMIT:,} characters; fix or split"
                        " the file (the batches committed before it are kept)"
                    ) from error
                first, *rest = lines.taken or [""]
                lines.give_back(rest)
                if start > after_line:
                    yield _malformed(start, first.rstrip("\r\n"), f"the row is not valid CSV: {error}")
                start += 1
                continue
            line, start = start, start + len(lines.taken)
            if line <= after_line or not any(c.strip() for c in cells):
                continue
            yield csv_row(layout, facts, line, cells)


def _malformed(line: int, raw: str | dict[str, str], message: str) -> ImportRow:
    return ImportRow(line, b"", raw, problem=("malformed_row", message, (("$", message),)), csv=True)


def csv_row(layout: CsvLayout, facts: FileFacts, line: int, cells: Sequence[str]) -> ImportRow:
    """Turn one CSV row into an envelope, following the column convention of this module."""
    columns = layout.columns
    raw = {columns[i]: cells[i] for i in range(min(len(cells), len(columns))) if cells[i] != ""}
    if len(cells) > len(columns):
        extra = [c for c in cells[len(columns) :] if c != ""]
        raw["_extra_cells"] = json.dumps(extra, ensure_ascii=False)
        if extra:
            return _malformed(
                line, raw, f"the row has {len(cells)} cells but the header names {len(columns)} columns"
            )
    elif len(cells) < len(columns):
        # a row cut short (a truncated export) would otherwise empty the fields of its missing columns
        return _malformed(
            line, raw, f"the row has {len(cells)} cells but the header names {len(columns)} columns"
        )
    bad = [name for name, cell in raw.items() if _not_utf8(cell)]
    if bad:
        readable = {
            k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for k, v in raw.items()
        }
        errors = tuple((c, "not UTF-8") for c in bad)
        return ImportRow(
            line,
            b"",
            readable,
            problem=("not_utf8", f"cells of {', '.join(bad)} are not UTF-8", errors),
            csv=True,
        )

    def cell(index: int) -> str | None:
        text = cells[index].strip() if index < len(cells) else ""
        return text or None

    tree: dict[Segment, Any] = {}
    for index, path in layout.payload:
        value = cell(index)
        if value is None:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    positions: dict[Path_, tuple[int, ...]] = {}
    payload = _finish(tree, (), positions, layout.booleans)

    env = {name: cell(index) for name, index in layout.envelope.items()}
    change = env.get("change") or "upsert"
    document: dict[str, Any] = {
        "message_id": env.get("message_id") or facts.default_message_id(line),
        "source": env.get("source") or layout.source,
        "source_record_id": env.get("source_record_id"),
        "change": change,
        "occurred_at": env.get("occurred_at") or facts.default_occurred_at,
        "payload": payload if payload or change != "delete" else None,
    }
    if document["source_record_id"] is None:
        del document["source_record_id"]  # so the envelope says "Field required" at source_record_id
    key = document.get("source_record_id")
    return ImportRow(
        line,
        json.dumps(document, ensure_ascii=False).encode(),
        raw,
        key.encode() if key else None,
        positions,
        csv=True,
    )


def _not_utf8(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _finish(
    node: dict[Segment, Any],
    path: Path_,
    positions: dict[Path_, tuple[int, ...]],
    booleans: frozenset[tuple[str, ...]],
) -> Any:
    """Turn position-keyed nodes into lists (dropping empty entries) and read the contract's booleans."""
    if node and all(isinstance(k, int) for k in node):
        kept = tuple(sorted(typing.cast(dict[int, Any], node)))
        if kept != tuple(range(len(kept))):
            positions[path] = kept
        return [_finish_value(node[i], (*path, i), positions, booleans) for i in kept]
    return {k: _finish_value(v, (*path, k), positions, booleans) for k, v in node.items()}


def _finish_value(
    value: Any, path: Path_, positions: dict[Path_, tuple[int, ...]], booleans: frozenset[tuple[str, ...]]
) -> Any:
    if isinstance(value, dict):
        return _finish(value, path, positions, booleans)
    pattern = tuple("*" if isinstance(p, int) else p for p in path)
    if pattern in booleans:
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return value


# -- the checkpoint ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """How far an import of one file has committed: the next run resumes after `line`."""

    sha256: str
    source: str
    line: int
    rows: int
    rejects: str | None
    rejects_bytes: int
    counts: dict[str, int]
    complete: bool = False
    #: the message id of the last row committed that the database marked processed: a database that does
    #: not hold it is not the one the checkpoint's rows went into (another one, or one reset since)
    last_message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the document written to the checkpoint file."""
        return {
            "version": CHECKPOINT_VERSION,
            "sha256": self.sha256,
            "source": self.source,
            "line": self.line,
            "rows": self.rows,
            "rejects": self.rejects,
            "rejects_bytes": self.rejects_bytes,
            "counts": self.counts,
            "complete": self.complete,
            "last_message_id": self.last_message_id,
            "updated_at": datetime.now(UTC).isoformat(),
        }


def checkpoint_path(path: Path) -> Path:
    """Return where the checkpoint of an import of `path` is kept: beside it."""
    return path.with_name(path.name + CHECKPOINT_SUFFIX)


def rejects_path(path: Path) -> Path:
    """Return the default rejects file of an import of `path`: beside it."""
    return path.with_name(path.name + REJECTS_SUFFIX)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Tell whether two spellings of a path name the same file (relative, absolute, through links)."""
    return Path(a).resolve() == Path(b).resolve()


def check_rejects_path(rejects: Path, source_file: Path, checkpoint: Path) -> None:
    """Refuse a rejects file that would overwrite the file being imported or its checkpoint, or that is a
    directory."""
    if same_file(rejects, source_file):
        raise ImportFileError(f"the rejects file {rejects} is the file being imported")
    if same_file(rejects, checkpoint):
        raise ImportFileError(f"the rejects file {rejects} is the import's checkpoint")
    if rejects.is_dir():
        raise ImportFileError(f"the rejects file {rejects} is a directory")


def load_checkpoint(path: Path) -> Checkpoint | None:
    """Read a checkpoint file; a missing or unreadable one means starting from the top."""
    try:
        document = json.loads(path.read_text())
        if document.get("version") != CHECKPOINT_VERSION:
            return None
        return Checkpoint(
            sha256=str(document["sha256"]),
            source=str(document["source"]),
            line=int(document["line"]),
            rows=int(document["rows"]),
            rejects=document.get("rejects"),
            rejects_bytes=int(document.get("rejects_bytes", 0)),
            counts={str(k): int(v) for k, v in document.get("counts", {}).items()},
            complete=bool(document.get("complete", False)),
            last_message_id=document.get("last_message_id"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically (rename), after the batch it records committed."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as handle:
        json.dump(checkpoint.to_json(), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


# -- the rejects file -------------------------------------------------------------------------------------


class RejectsFile:
    """The rejected rows of an import, one JSON object a line, appended batch by batch after each commit."""

    def __init__(self, path: Path, *, keep_bytes: int = 0) -> None:
        """Open the file; keep its first `keep_bytes` (what committed batches wrote) and drop the rest."""
        self.path = path
        self._handle: IO[bytes] | None = None
        self._keep = keep_bytes
        self.written = 0

    def open(self) -> None:
        """Open for appending after the kept bytes (creating the file only when the first reject comes)."""
        if self.path.exists():
            handle = self.path.open("r+b")
            handle.truncate(min(self._keep, self.path.stat().st_size))
            handle.seek(0, os.SEEK_END)
            self._handle = handle

    @property
    def size(self) -> int:
        """Return how many bytes the file holds: the offset a checkpoint records."""
        if self._handle is None:
            return 0
        return self._handle.tell()

    def write(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append rejects and flush them to disk."""
        if not entries:
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("wb")
        for entry in entries:
            self._handle.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.written += len(entries)

    def close(self) -> None:
        """Close the file; an empty one (left by an earlier run with rejects) is removed."""
        if self._handle is not None:
            empty = self._handle.tell() == 0
            self._handle.close()
            self._handle = None
            if empty:
                self.path.unlink(missing_ok=True)


# -- the progress bar -------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """Show a one-line progress bar on stderr: rows, rate and ETA.

    On a terminal the line is rewritten in place (`\\r`) a few times a second; otherwise (a log file, CI) a
    new line is written every few seconds.
    """

    def __init__(
        self, label: str, *, stream: TextIO | None = None, interval: float | None = None, width: int = 24
    ) -> None:
        """Describe the bar; `start` gives it the size of the work."""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.label = label
        self.width = width
        self.total = 1
        self.started = time.monotonic()
        self._shown = 0.0
        self._first_line = 0
        self._line = 0
        self._rows = 0
        self.running = False

    def start(self, facts: FileFacts, from_line: int) -> None:
        """Start timing a file's import; a resumed one counts its rate and ETA from the line it resumed at."""
        self.total = max(facts.lines, 1)
        self.started = self._shown = time.monotonic()
        self._first_line = self._line = from_line
        self.running = True

    def update(self, line: int, rows: int, *, force: bool = False) -> None:
        """Show progress up to `line` with `rows` rows done in this run, at most once per interval."""
        self._line, self._rows = line, rows
        now = time.monotonic()
        if not force and now - self._shown < self.interval:
            return
        self._shown = now
        self.stream.write(("\r" if self.tty else "") + self.render(now) + ("" if self.tty else "\n"))
        self.stream.flush()

    def render(self, now: float | None = None) -> str:
        """Return the progress line."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        done = min(self._line / self.total, 1.0)
        rate = self._rows / elapsed if elapsed > 0 else 0.0
        lines_done = self._line - self._first_line
        remaining = self.total - self._line
        eta = _duration(remaining * elapsed / lines_done) if lines_done > 0 and remaining > 0 else "-:--:--"
        filled = int(done * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return (
            f"{self.label} [{bar}] {done:6.1%}  {self._rows:,} rows  {rate:,.0f} rows/s  "
            f"elapsed {_duration(elapsed)}  ETA {eta}"
        )

    def finish(self) -> None:
        """Show the final state and end the line."""
        if not self.running:
            return
        self.running = False
        self.update(self._line, self._rows, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
