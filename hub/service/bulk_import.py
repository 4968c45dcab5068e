"""Bulk initial load (`hub import`): a file's rows through the stream's own path, many rows per transaction.

Every row is read by `read_message` and applied by `apply_message`, exactly as the stream worker does, so
validation, matching, survivorship, lineage and the outbox events are the same; the relay of a running hub
publishes the events. What differs is the packaging:

- One transaction per batch of rows (`--batch-size`, 1,000 by default) instead of one per message: the
  commit, the costliest statement of a single-row transaction (about 3,000 rows/s at best, SPEC 10), is paid
  once per batch. Each row runs inside a SAVEPOINT, so a row the hub raises on is rolled back alone and the
  rest of the batch commits.
- A row that breaks the contract is not dead-lettered (there is no broker message to replay): it is written
  to the rejects file with its line number, and counted.
- Restartable: after each commit the checkpoint file records the file's hash and the last line committed,
  so a rerun resumes after it. The rejects file is written after the commit and before the checkpoint; a
  rerun truncates it to the size the checkpoint recorded, so a crash in between writes no reject twice.
  Should the checkpoint be lost or the batch be replayed anyway, the message ids (the file's or the stable
  defaults of `hub.importing`) make every applied row a duplicate: nothing is applied twice.

Locks: the batch's transaction holds the advisory locks its rows took until it commits, so a running worker
that receives a change of a record being imported waits for the batch (at most a second or two).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from hub.bootstrap import Hub
from hub.importing import (
    Checkpoint,
    FileFacts,
    ImportFileError,
    ImportRow,
    RejectsFile,
    check_rejects_path,
    checkpoint_path,
    inspect_file,
    load_checkpoint,
    read_rows,
    rejects_path,
    same_file,
    save_checkpoint,
    unknown_columns,
)
from hub.service.credit import apply_exposure
from hub.service.golden import PublishContext
from hub.service.intake import (
    ApplySourceChange,
    InboundMessage,
    RecordExposure,
    Rejection,
    read_with_settings,
)
from hub.service.messages import apply_message
from hub.service.source_changes import read_ahead
from hub.settings import SOURCE_TOPICS
from hub.store.statistics import PlannerStatistics
from hub.store.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

OUTCOMES = ("applied", "duplicate", "stale", "rejected", "failed")
#: A row that hits a deadlock or serialization failure is retried this often in a fresh savepoint.
ROW_ATTEMPTS = 3
#: A batch whose connection breaks is retried from its start this often, waiting longer each time.
BATCH_ATTEMPTS = 6
#: SQLSTATEs worth retrying a row for: deadlock_detected, serialization_failure, lock_not_available.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})

Progress = Callable[[int, int], None]


class ImportInterrupted(RuntimeError):
    """The database stayed unreachable; what committed is kept and a rerun resumes after it."""


@dataclass
class ImportReport:
    """What an import did in this run, and where it stands."""

    file: Path
    source: str
    file_format: str
    rejects_file: Path
    checkpoint_file: Path
    #: the line the run resumed after (0: from the top)
    resumed_after: int = 0
    #: the run found the file fully imported by an earlier run, and did nothing
    already_complete: bool = False
    #: the run reached the end of the file (False when stopped by `max_batches`)
    complete: bool = False
    last_line: int = 0
    batches: int = 0
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    #: rejects written to the rejects file over all runs of this file
    rejects_total: int = 0
    #: why the checkpoint found was not resumed from, when it was not
    checkpoint_ignored: str | None = None
    #: CSV columns the source's contract does not name: kept as text, matched and merged on nothing
    unknown_columns: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Return the rate of this run."""
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class BatchResult:
    """The outcomes of one committed batch and the rejects to write for it."""

    counts: Counter[str]
    rejects: list[dict[str, Any]]
    #: the last row's message id the batch marked processed
    last_message_id: str | None = None


def import_file(
    hub: Hub,
    path: Path,
    source: str,
    *,
    file_format: str | None = None,
    rejects: Path | None = None,
    checkpoint: Path | None = None,
    batch_size: int = 1000,
    max_batches: int | None = None,
    restart: bool = False,
    on_start: Callable[[FileFacts, int], None] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportReport:
    """Import a CSV or JSON Lines file of one source's records, resuming after its checkpoint.

    `max_batches` and `should_stop` (asked after each batch) end the run early; a later run resumes.
    Raise ImportFileError when the file cannot be imported at all (nothing is applied), and
    ImportInterrupted when the database stays unreachable (committed batches are kept).
    """
    if source not in SOURCE_TOPICS:
        raise ImportFileError(f"unknown source {source!r}: one of {', '.join(SOURCE_TOPICS)}")
    if batch_size < 1:
        raise ImportFileError("the batch size must be at least 1")
    if max_batches is not None and max_batches < 1:
        raise ImportFileError("the number of batches must be at least 1")
    facts = inspect_file(path, file_format)
    checkpoint_file = checkpoint or checkpoint_path(path)
    on_disk = load_checkpoint(checkpoint_file)
    previous = None if restart else on_disk
    ignored = None
    if previous is not None and (previous.sha256 != facts.sha256 or previous.source != source):
        ignored = (
            "the file changed" if previous.sha256 != facts.sha256 else f"it was for source {previous.source}"
        )
    elif previous is not None and previous.last_message_id and not _holds(hub, previous.last_message_id):
        ignored = "this database does not hold the rows it records: another database, or one reset since"
    if ignored is not None:
        log.warning("ignoring the checkpoint of %s (%s): importing from the top", path, ignored)
        previous = None
    # a resumed import goes on writing where it wrote before, unless told otherwise
    resumed_rejects = Path(previous.rejects) if previous is not None and previous.rejects else None
    rejects_file = rejects or resumed_rejects or rejects_path(path)
    check_rejects_path(rejects_file, path, checkpoint_file)
    ours = on_disk is not None and on_disk.rejects is not None and same_file(on_disk.rejects, rejects_file)
    if rejects_file.exists() and not ours:
        raise ImportFileError(
            f"the rejects file {rejects_file} exists and no import of this file wrote it: move it away, "
            "or name another file with --rejects"
        )
    keep = previous.rejects_bytes if previous is not None and ours else 0
    last_message_id = previous.last_message_id if previous is not None else None
    counts_before: Counter[str] = Counter(previous.counts if previous is not None else {})
    report = ImportReport(
        file=path,
        source=source,
        file_format=facts.file_format,
        rejects_file=rejects_file,
        checkpoint_file=checkpoint_file,
        resumed_after=previous.line if previous is not None else 0,
        already_complete=previous is not None and previous.complete,
        last_line=previous.line if previous is not None else 0,
        rejects_total=counts_before["rejected"] + counts_before["failed"] if keep else 0,
        checkpoint_ignored=ignored,
        unknown_columns=unknown_columns(facts, source),
    )
    if report.already_complete:
        report.complete = True
        return report

    sink = RejectsFile(rejects_file, keep_bytes=keep)
    sink.open()
    rows_before = previous.rows if previous is not None else 0

    def record(line: int, *, complete: bool) -> None:
        total = counts_before + report.counts
        save_checkpoint(
            checkpoint_file,
            Checkpoint(
                sha256=facts.sha256,
                source=source,
                line=line,
                rows=rows_before + report.rows,
                rejects=str(rejects_file.resolve()),
                rejects_bytes=sink.size,
                counts=dict(total),
                complete=complete,
                last_message_id=last_message_id,
            ),
        )

    try:
        try:
            record(report.last_line, complete=False)  # fails early when the checkpoint cannot be written
        except OSError as error:
            raise ImportFileError(
                f"cannot write the checkpoint {checkpoint_file}: {error.strerror}"
            ) from error
        if on_start is not None:
            on_start(facts, report.resumed_after)
        started = time.monotonic()
        rows = read_rows(facts, source, after_line=report.resumed_after)
        statistics = PlannerStatistics(hub.engine, batch_size)
        for batch in _batches(rows, batch_size):
            result = _apply_batch_with_retry(hub, source, facts, batch)
            last_message_id = result.last_message_id or last_message_id
            statistics.applied(result.counts["applied"])
            sink.write(result.rejects)
            report.counts.update(result.counts)
            report.rows += len(batch)
            report.batches += 1
            report.last_line = batch[-1].line
            report.rejects_total += len(result.rejects)
            record(report.last_line, complete=False)
            report.elapsed = time.monotonic() - started
            if progress is not None:
                progress(report.last_line, report.rows)
            if (max_batches is not None and report.batches >= max_batches) or (
                should_stop is not None and should_stop()
            ):
                break
        else:
            report.complete = True
            report.last_line = facts.lines
            record(facts.lines, complete=True)
            if progress is not None:  # the last row may span lines (quoted newlines): the bar ends full
                progress(facts.lines, report.rows)
        report.elapsed = time.monotonic() - started
    finally:
        sink.close()
    return report


def _holds(hub: Hub, message_id: str) -> bool:
    with unit_of_work(hub.engine) as uow:
        return uow.is_processed(message_id)


def _batches(rows: Iterator[ImportRow], size: int) -> Iterator[list[ImportRow]]:
    while batch := list(islice(rows, size)):
        yield batch


def _apply_batch_with_retry(
    hub: Hub, source: str, facts: FileFacts, batch: Sequence[ImportRow]
) -> BatchResult:
    """Apply a batch in one transaction; when the connection breaks, wait and apply it again whole."""
    delay = 0.5
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            return apply_batch(hub, source, facts, batch)
        except DBAPIError as error:
            if attempt == BATCH_ATTEMPTS:
                raise ImportInterrupted(
                    f"the database failed {attempt} times on the batch from line {batch[0].line}: "
                    f"{error.orig}; what committed before is kept, run the import again to resume"
                ) from error
            log.warning(
                "database error on the batch from line %d, retrying in %.1fs: %s",
                batch[0].line,
                delay,
                error.orig,
            )
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def apply_batch(hub: Hub, source: str, facts: FileFacts, batch: Sequence[ImportRow]) -> BatchResult:
    """Apply rows in one transaction; return outcomes and rejects.

    The batch is applied whole first. Only if a row fails is it applied again with a savepoint per
    row, so the failing row alone is rolled back: a savepoint per row always would cost PostgreSQL
    dearly, since more than 64 subtransactions in one transaction slow every snapshot.
    """
    try:
        return _apply_rows(hub, source, facts, batch, isolate=False)
    except DBAPIError as error:
        if error.connection_invalidated:
            raise  # the connection broke: the whole batch is retried
        log.info("a row of the batch from line %d failed; applying it row by row", batch[0].line)
    except Exception:
        log.info(
            "a row of the batch from line %d failed; applying it row by row", batch[0].line, exc_info=True
        )
    return _apply_rows(hub, source, facts, batch, isolate=True)


def _apply_rows(
    hub: Hub, source: str, facts: FileFacts, batch: Sequence[ImportRow], *, isolate: bool
) -> BatchResult:
    result = BatchResult(Counter(), [])
    read = [_read_row(hub, source, facts, row, result) for row in batch]
    with unit_of_work(hub.engine) as uow:
        uow.deferring = True
        uow.allocate_in_blocks = True  # a load's new customers are created in the file's order
        if not isolate:
            read_ahead(uow, (r[2] for r in read if r is not None))
        for found in read:
            if found is None:
                continue
            row, message, command, now = found
            if isolate:
                outcome = _apply_row(uow, hub, source, row, message, command, now)
            else:
                applied = _apply_command(uow, hub.context(now), source, message, command)
                uow.send_writes()  # PostgreSQL writes this row while the next one is worked out
                outcome = _rejected(row, applied, source) if isinstance(applied, Rejection) else applied
            if isinstance(outcome, dict):
                result.rejects.append(outcome)
                result.counts["failed" if outcome["error_code"] == "failed" else "rejected"] += 1
            else:
                result.counts[outcome] += 1
                result.last_message_id = command.message_id
    result.rejects.sort(key=lambda entry: int(entry["line"]))  # read first, applied later: file order
    return result


_ReadRow = tuple[ImportRow, InboundMessage, ApplySourceChange | RecordExposure, datetime]


def _read_row(
    hub: Hub, source: str, facts: FileFacts, row: ImportRow, result: BatchResult
) -> _ReadRow | None:
    """Read a row into its command, or note it in `result` as rejected (or failed) and return None."""
    if row.problem is not None:
        code, text, errors = row.problem
        result.rejects.append(_reject(row, code, text, errors, None))
        result.counts["rejected"] += 1
        return None
    now = datetime.now(UTC)
    message = InboundMessage(
        topic=f"import:{facts.path.name}", partition=0, offset=row.line, key=row.key, value=row.value
    )
    try:
        command = read_with_settings(message, topic_source=source, now=now, settings=hub.settings)
    except Exception as error:
        log.exception("line %d: reading the row failed", row.line)
        result.rejects.append(_failed(row, None, error))
        result.counts["failed"] += 1
        return None
    if isinstance(command, Rejection):
        result.rejects.append(_rejected(row, command, source))
        result.counts["rejected"] += 1
        return None
    return row, message, command, now


def _apply_command(
    uow: UnitOfWork,
    ctx: PublishContext,
    source: str,
    message: InboundMessage,
    command: ApplySourceChange | RecordExposure,
) -> str | Rejection:
    """Apply one row's command, or return why the hub rejects it.

    AR may name a golden record the hub does not know: the stream dead-letters that, an import rejects
    it like any other bad row. The rejection comes before AR's exposure writes anything, so the rest of
    the batch goes on in the same transaction.
    """
    if isinstance(command, RecordExposure):
        return apply_exposure(uow, command, ctx)
    return apply_message(uow, message, command, source, ctx)


def _apply_row(
    uow: UnitOfWork,
    hub: Hub,
    source: str,
    row: ImportRow,
    message: InboundMessage,
    command: ApplySourceChange | RecordExposure,
    now: datetime,
) -> str | dict[str, Any]:
    """Apply one row in a savepoint: its outcome, or the rejects entry of a row that cannot be applied."""
    ctx = hub.context(now)
    for attempt in range(1, ROW_ATTEMPTS + 1):
        try:
            # a savepoint undoes the row's writes and its counts if it fails
            with uow.savepoint():
                outcome = _apply_command(uow, ctx, source, message, command)
        except DBAPIError as error:
            if error.connection_invalidated:
                raise  # the connection broke: the whole batch is retried
            if getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES and attempt < ROW_ATTEMPTS:
                log.info("line %d: %s, trying again", row.line, error.orig)
                continue
            log.exception("line %d: applying the row failed", row.line)
            return _failed(row, command.message_id, error)
        except Exception as error:
            log.exception("line %d: applying the row failed", row.line)
            return _failed(row, command.message_id, error)
        return _rejected(row, outcome, source) if isinstance(outcome, Rejection) else outcome
    raise AssertionError("unreachable")


def _rejected(row: ImportRow, rejection: Rejection, source: str) -> dict[str, Any]:
    message = rejection.message
    if rejection.error_code == "wrong_source":
        # The stream's wording names a topic; in an import the source is the one the import was started for.
        message = f"the row's source is not {source!r}, the source this import was started for"
        rejection = dataclasses.replace(rejection, message=message)
    errors = tuple((e.path, e.message) for e in rejection.errors)
    return _reject(row, rejection.error_code, rejection.message, errors, rejection.message_id)


def _failed(row: ImportRow, message_id: str | None, error: Exception) -> dict[str, Any]:
    text = f"the hub raised {type(error).__name__} applying this row: {error}".splitlines()[0]
    return _reject(row, "failed", text, (), message_id)


def _reject(
    row: ImportRow, code: str, message: str, errors: Sequence[tuple[str, str]], message_id: str | None
) -> dict[str, Any]:
    return {
        "line": row.line,
        "message_id": message_id,
        "error_code": code,
        "message": message,
        "errors": row.error_entries(errors),
        "raw": row.raw,
    }


def render_summary(report: ImportReport) -> str:
    """Render the summary printed at the end of an import."""
    c = report.counts
    lines = [
        f"Import of {report.file} ({report.file_format}, source {report.source})",
    ]
    if report.already_complete:
        lines.append(
            f"  already imported completely (checkpoint {report.checkpoint_file}); "
            "nothing to do. Use --restart to import it again (its rows would be duplicates)."
        )
        return "\n".join(lines)
    if report.unknown_columns:
        lines.append(
            f"  warning: columns the {report.source} contract does not name, kept as text on the source"
            f" record and neither matched nor merged: {', '.join(report.unknown_columns)}"
        )
    if report.checkpoint_ignored:
        lines.append(f"  imported from the top: the checkpoint was not resumed ({report.checkpoint_ignored})")
    if report.resumed_after:
        lines.append(f"  resumed after line {report.resumed_after:,} (checkpoint {report.checkpoint_file})")
    lines += [
        f"  rows read     {report.rows:>12,}",
        f"  applied       {c['applied']:>12,}",
        f"  duplicate     {c['duplicate']:>12,}",
        f"  stale         {c['stale']:>12,}",
        f"  rejected      {c['rejected']:>12,}",
    ]
    if c["failed"]:
        lines.append(
            f"  failed        {c['failed']:>12,}   (the hub raised an error: see the log; "
            "rerun with --restart to retry)"
        )
    lines.append(
        f"  elapsed       {report.elapsed:>12.1f} s   "
        f"({report.rows_per_second:,.0f} rows/s, {report.batches:,} batches)"
    )
    if report.rejects_total:
        rows = "row" if report.rejects_total == 1 else "rows"
        lines.append(
            f"  rejects file  {report.rejects_file}  ({report.rejects_total:,} {rows} over all runs)"
        )
    else:
        lines.append("  rejects file  none (no row was rejected)")
    if not report.complete:
        lines.append(f"  stopped after line {report.last_line:,}; run the same command again to resume")
    return "\n".join(lines)
