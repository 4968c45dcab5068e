"""`hub import` on the real PostgreSQL: golden records from a file, rejects, reruns, interruption, resume."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.bench.import_bench import BenchmarkRefused, bench_import_on, render
from hub.bench.synthetic import synthetic_customer
from hub.bootstrap import Hub, bootstrap
from hub.cli import main
from hub.importing import ImportFileError, checkpoint_path, flatten, load_checkpoint, rejects_path
from hub.service import bulk_import
from hub.service.bulk_import import ImportReport, import_file, render_summary
from hub.service.messages import apply_message
from hub.settings import Settings
from hub.store import uow as uow_module
from tests.integration.helpers import customer_events, outcome_counts, rows

SEED = 7


def customers(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """Envelopes of distinct synthetic CRM customers, without message ids (the import gives them)."""
    for index in range(start, start + n):
        message = synthetic_customer(index, SEED).crm_message()
        del message["message_id"]
        yield message


def csv_cells(message: dict[str, Any]) -> dict[str, str]:
    cells = {"source_record_id": message["source_record_id"], "occurred_at": message["occurred_at"]}
    cells.update(flatten(message["payload"]))
    return cells


def write_csv(path: Path, records: list[dict[str, str]], extra_line: str | None = None) -> Path:
    header: list[str] = []
    for record in records:
        header += [c for c in record if c not in header]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(records)
        if extra_line is not None:
            handle.write(extra_line + "\n")
    return path


def crm_csv(tmp_path: Path, valid: int = 30) -> tuple[Path, dict[int, tuple[str, str]]]:
    """A CSV of `valid` good rows with bad rows among them; returns the bad rows' lines, codes and columns."""
    good = [csv_cells(m) for m in customers(valid)]
    bad_limit = csv_cells(next(customers(1, start=900)))
    bad_limit["credit.limit"] = "1,000.00"
    bad_limit["credit.currency"] = "SGD"
    no_id = csv_cells(next(customers(1, start=901)))
    del no_id["source_record_id"]
    naive_time = csv_cells(next(customers(1, start=902)))
    naive_time["occurred_at"] = "2026-01-01T10:00:00"
    nothing = {"source_record_id": "CRM-EMPTY", "party_type": "organization", "status": "active"}
    records = [*good[:10], bad_limit, *good[10:20], no_id, naive_time, nothing, *good[20:]]
    # Data lines start at 2 (line 1 is the header).
    expected = {
        12: ("invalid_payload", "credit.limit"),
        23: ("invalid_envelope", "source_record_id"),
        24: ("invalid_envelope", "occurred_at"),
        25: ("unidentifiable", ""),
    }
    lines = len(records) + 2
    expected[lines] = ("malformed_row", "")
    width = len({c for r in records for c in r})
    return write_csv(tmp_path / "crm.csv", records, extra_line="X," * (width + 2) + "X"), expected


def golden_count(hub: Hub) -> int:
    found = rows(hub.engine, "SELECT count(*) AS n FROM golden_record WHERE golden_id <> 'CASH'")
    return int(found[0].n)


def point_the_cli_at(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `hub` commands run in this test use the test's database."""
    assert hub.settings.database_url is not None
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))


def rejects_of(report: ImportReport) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.rejects_file.read_text().splitlines()]


def test_a_csv_import_creates_golden_records_and_lists_bad_rows_with_line_numbers_and_codes(
    hub: Hub, tmp_path: Path
) -> None:
    path, expected = crm_csv(tmp_path)

    report = import_file(hub, path, "crm", batch_size=8)

    assert report.complete
    assert report.rows == 30 + len(expected)
    assert report.counts == {"applied": 30, "rejected": len(expected)}
    assert golden_count(hub) == 30
    assert len({e["golden_id"] for e in customer_events(hub.engine)}) == 30
    assert outcome_counts(hub.engine) == {"applied": 30}
    assert (
        rows(hub.engine, "SELECT count(*) AS n FROM dead_letter")[0].n == 0
    )  # an import does not dead-letter

    rejects = rejects_of(report)
    assert report.rejects_file == rejects_path(path)
    assert {r["line"]: r["error_code"] for r in rejects} == {
        line: code for line, (code, _) in expected.items()
    }
    for reject in rejects:
        _, column = expected[reject["line"]]
        if column:
            assert column in [e["column"] for e in reject["errors"]], reject
        assert reject["message"]
        assert reject["raw"]
    by_line = {r["line"]: r for r in rejects}
    assert by_line[12]["raw"]["credit.limit"] == "1,000.00"
    assert by_line[12]["message_id"] == f"import:{report_hash(path)}:12"


def test_an_import_batch_takes_the_golden_ids_of_its_new_customers_from_the_sequence_at_once(
    hub: Hub, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "ten.csv", [csv_cells(m) for m in customers(10)])
    allocations: list[str] = []

    def observe(shape: str, seconds: float) -> None:
        if "golden_id_seq" in shape:
            allocations.append(shape)

    uow_module.statement_observers.append(observe)
    try:
        report = import_file(hub, path, "crm", batch_size=5)
    finally:
        uow_module.statement_observers.remove(observe)

    assert report.counts["applied"] == 10
    assert len(allocations) == 2  # one per batch
    golden_ids = [r.golden_id for r in rows(hub.engine, "SELECT golden_id FROM source_record ORDER BY 1")]
    assert len(set(golden_ids)) == golden_count(hub)


def report_hash(path: Path) -> str:
    checkpoint = load_checkpoint(checkpoint_path(path))
    assert checkpoint is not None
    return checkpoint.sha256[:16]


def test_a_json_lines_import_applies_envelopes_and_rejects_lines_that_break_the_contract(
    hub: Hub, tmp_path: Path
) -> None:
    good = list(customers(12))
    wrong_source = {**next(customers(1, start=50)), "source": "pos"}
    bad_change = {**next(customers(1, start=51)), "change": "merge"}
    lines = [json.dumps(m) for m in good[:6]] + [json.dumps(wrong_source), "{oops", json.dumps(bad_change)]
    lines += [json.dumps(m) for m in good[6:]]
    path = tmp_path / "crm.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = import_file(hub, path, "crm", batch_size=5)

    assert report.counts == {"applied": 12, "rejected": 3}
    assert golden_count(hub) == 12
    rejects = {r["line"]: r for r in rejects_of(report)}
    assert {line: r["error_code"] for line, r in rejects.items()} == {
        7: "wrong_source",
        8: "not_json",
        9: "invalid_envelope",
    }
    assert rejects[7]["errors"] == [{"path": "source", "message": "expected 'crm'"}]
    assert rejects[8]["raw"] == "{oops"
    assert rejects[9]["errors"][0]["path"] == "change"


def test_running_the_same_import_again_applies_nothing_and_restarting_it_counts_every_row_a_duplicate(
    hub: Hub, tmp_path: Path
) -> None:
    path, expected = crm_csv(tmp_path)
    first = import_file(hub, path, "crm", batch_size=10)
    events = len(customer_events(hub.engine))
    rejects = first.rejects_file.read_text()

    again = import_file(hub, path, "crm", batch_size=10)
    assert again.already_complete
    assert again.rows == 0

    restarted = import_file(hub, path, "crm", batch_size=10, restart=True)
    assert restarted.counts == {"duplicate": 30, "rejected": len(expected)}
    assert len(customer_events(hub.engine)) == events
    assert golden_count(hub) == 30
    assert restarted.rejects_file.read_text() == rejects  # rewritten, not appended to


def test_an_import_stopped_after_some_batches_resumes_where_it_stopped_and_applies_nothing_twice(
    hub: Hub, tmp_path: Path
) -> None:
    path, expected = crm_csv(tmp_path)

    first = import_file(hub, path, "crm", batch_size=10, max_batches=2)
    assert not first.complete
    assert first.rows == 20
    checkpoint = load_checkpoint(checkpoint_path(path))
    assert checkpoint is not None
    assert (checkpoint.line, checkpoint.complete) == (21, False)

    second = import_file(hub, path, "crm", batch_size=10)

    assert second.complete
    assert second.resumed_after == 21
    assert first.rows + second.rows == 30 + len(expected)
    assert first.counts + second.counts == {"applied": 30, "rejected": len(expected)}
    assert golden_count(hub) == 30
    assert sorted(r["line"] for r in rejects_of(second)) == sorted(expected)  # each bad row listed once


def test_an_import_interrupted_inside_a_batch_keeps_the_committed_batches_and_resumes_from_them(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, expected = crm_csv(tmp_path)
    real = apply_message
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 15:  # the fifth row of the second batch: the process dies here
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk_import, "apply_message", dying)
    with pytest.raises(KeyboardInterrupt):
        import_file(hub, path, "crm", batch_size=10)
    assert golden_count(hub) == 10  # the first batch committed, the second rolled back whole
    checkpoint = load_checkpoint(checkpoint_path(path))
    assert checkpoint is not None
    assert checkpoint.line == 11

    monkeypatch.setattr(bulk_import, "apply_message", real)
    resumed = import_file(hub, path, "crm", batch_size=10)

    assert resumed.resumed_after == 11
    assert resumed.counts == {"applied": 20, "rejected": len(expected)}
    assert golden_count(hub) == 30
    assert outcome_counts(hub.engine) == {"applied": 30}


def test_a_row_the_hub_raises_on_is_rolled_back_alone_and_the_rest_of_its_batch_commits(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = crm_csv(tmp_path)
    real = apply_message

    def failing_on_line_4(*args: Any, **kwargs: Any) -> Any:
        outcome = real(*args, **kwargs)  # it wrote its effects inside the row's savepoint ...
        if args[1].offset == 4:  # the message's offset is the row's line
            raise RuntimeError("simulated bug")  # ... which the savepoint's rollback undoes
        return outcome

    monkeypatch.setattr(bulk_import, "apply_message", failing_on_line_4)
    report = import_file(hub, path, "crm", batch_size=10)

    assert report.counts["applied"] == 29
    assert report.counts["failed"] == 1
    assert golden_count(hub) == 29
    failed = [r for r in rejects_of(report) if r["error_code"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["line"] == 4
    assert "RuntimeError" in failed[0]["message"]

    monkeypatch.setattr(bulk_import, "apply_message", real)
    retried = import_file(hub, path, "crm", batch_size=10, restart=True)
    assert retried.counts["applied"] == 1
    assert retried.counts["duplicate"] == 29
    assert golden_count(hub) == 30


def test_a_changed_file_is_imported_from_the_top_and_its_rows_with_message_ids_are_duplicates(
    hub: Hub, tmp_path: Path
) -> None:
    messages = [{**m, "message_id": f"export-{i}"} for i, m in enumerate(customers(12))]
    path = tmp_path / "crm.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in messages[:10]))
    import_file(hub, path, "crm", batch_size=4)

    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    report = import_file(hub, path, "crm", batch_size=4)

    assert report.resumed_after == 0
    assert report.counts == {"duplicate": 10, "applied": 2}
    assert golden_count(hub) == 12


def test_a_checkpoint_is_not_resumed_into_a_database_that_does_not_hold_its_rows(
    hub: Hub, tmp_path: Path, migrated_database: Callable[[str], str]
) -> None:
    # staging first, then production; or the database reset after a bad load: resuming would skip the rows
    # the checkpoint counts as done, and leave them out of this database for good
    path, expected = crm_csv(tmp_path)
    import_file(hub, path, "crm", batch_size=10, max_batches=2)
    other = bootstrap(Settings(database_url=migrated_database("other"), data_dir=tmp_path / "other"))
    try:
        report = import_file(other, path, "crm", batch_size=10)

        assert report.resumed_after == 0
        assert report.checkpoint_ignored is not None and "does not hold" in report.checkpoint_ignored
        assert report.counts == {"applied": 30, "rejected": len(expected)}
        assert golden_count(other) == 30
        assert "the checkpoint was not resumed" in render_summary(report)
        assert sorted(r["line"] for r in rejects_of(report)) == sorted(expected)
    finally:
        other.engine.dispose()
    resumed = import_file(hub, path, "crm", batch_size=10)  # the first database holds them: no rerun there
    assert resumed.already_complete is False and resumed.resumed_after == 0  # its checkpoint is the other's
    assert (resumed.counts["duplicate"], resumed.counts["applied"]) == (19, 11)  # line 12 is a bad row


def test_an_import_resumed_under_another_spelling_of_the_path_keeps_the_earlier_rejects(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, expected = crm_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    import_file(hub, Path(path.name), "crm", batch_size=10, max_batches=2)

    second = import_file(hub, path, "crm", batch_size=10)

    assert second.resumed_after == 21
    assert sorted(r["line"] for r in rejects_of(second)) == sorted(expected)


def test_an_import_resumed_without_its_rejects_option_goes_on_writing_the_same_rejects_file(
    hub: Hub, tmp_path: Path
) -> None:
    path, expected = crm_csv(tmp_path)
    chosen = tmp_path / "out" / "bad-rows.jsonl"
    import_file(hub, path, "crm", batch_size=10, max_batches=2, rejects=chosen)

    second = import_file(hub, path, "crm", batch_size=10)

    assert second.rejects_file == chosen
    assert second.rejects_total == len(expected)
    assert sorted(r["line"] for r in rejects_of(second)) == sorted(expected)
    assert not rejects_path(path).exists()


def test_the_progress_of_a_complete_import_reaches_the_files_last_line(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text(
        "source_record_id,party_type,legal_name,custom_fields.note\n"
        'M-1,organization,Multi Line Ltd,"first line\nsecond line\nthird line"\n'
    )
    shown: list[tuple[int, int]] = []

    report = import_file(hub, path, "crm", progress=lambda line, done: shown.append((line, done)))

    assert report.counts == {"applied": 1}
    assert shown[-1] == (4, 1)  # the row starts on line 2 and ends on line 4


def test_an_import_refuses_a_rejects_file_it_would_destroy(hub: Hub, tmp_path: Path) -> None:
    path, _ = crm_csv(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("somebody's notes\n")
    (tmp_path / "a-directory").mkdir()

    with pytest.raises(ImportFileError, match="is the file being imported"):
        import_file(hub, path, "crm", rejects=path)
    with pytest.raises(ImportFileError, match="exists and no import of this file wrote it"):
        import_file(hub, path, "crm", rejects=notes)
    with pytest.raises(ImportFileError, match="is the import's checkpoint"):
        import_file(hub, path, "crm", rejects=checkpoint_path(path))
    with pytest.raises(ImportFileError, match="is a directory"):
        import_file(hub, path, "crm", rejects=tmp_path / "a-directory")
    with pytest.raises(ImportFileError, match="number of batches must be at least 1"):
        import_file(hub, path, "crm", max_batches=0)

    assert notes.read_text() == "somebody's notes\n"
    assert path.stat().st_size > 0
    assert golden_count(hub) == 0


def test_hub_import_on_the_command_line_prints_a_summary_and_exits_0_even_with_rejects(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, expected = crm_csv(tmp_path)
    point_the_cli_at(hub, tmp_path, monkeypatch)
    rejects = tmp_path / "bad-rows.jsonl"

    code = main(["import", str(path), "--source", "crm", "--rejects", str(rejects), "--batch-size", "7"])

    out = capsys.readouterr()
    assert code == 0
    assert "applied                 30" in out.out
    assert f"rejected                 {len(expected)}" in out.out
    assert str(rejects) in out.out
    assert "rows/s" in out.err  # the progress bar
    assert len(rejects.read_text().splitlines()) == len(expected)


def test_hub_import_names_the_columns_the_contract_does_not_know_before_it_starts_and_in_its_summary(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "misspelt.csv"
    path.write_text(
        "source_record_id,party_type,legal_name,emial\nM-1,organization,Misspelt Ltd,a@b.example\n"
    )
    point_the_cli_at(hub, tmp_path, monkeypatch)

    assert main(["import", str(path), "--source", "crm"]) == 0
    out = capsys.readouterr()
    assert out.err.index("warning: columns the crm contract does not name") < out.err.index("rows/s")
    assert "neither matched nor merged: emial" in out.out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--source", "erp"], "unknown source 'erp': one of crm, pos, ecommerce, ar"),
        (["--source", "crm", "--format", "csv", "--batch-size", "0"], "batch size must be at least 1"),
    ],
)
def test_hub_import_refuses_a_usage_error_with_exit_code_2_and_a_precise_message(
    hub: Hub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    complaint: str,
) -> None:
    path, _ = crm_csv(tmp_path)
    point_the_cli_at(hub, tmp_path, monkeypatch)

    assert main(["import", str(path), *args]) == 2
    assert complaint in capsys.readouterr().err


def test_hub_import_of_a_missing_file_exits_2_before_touching_any_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    assert main(["import", str(tmp_path / "missing.csv"), "--source", "crm"]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


def test_hub_import_against_an_unreachable_database_exits_1_with_one_line_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = crm_csv(tmp_path)
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))

    assert main(["import", str(path), "--source", "crm"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hub import: cannot reach the database: ") and "Traceback" not in err


def test_hub_import_stopped_with_ctrl_c_exits_130_and_says_how_to_resume(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = crm_csv(tmp_path)
    point_the_cli_at(hub, tmp_path, monkeypatch)
    real_apply = bulk_import._apply_batch_with_retry
    batches = {"n": 0}

    def apply_then_ctrl_c(*args: Any) -> Any:
        batches["n"] += 1
        if batches["n"] == 2:
            raise KeyboardInterrupt
        return real_apply(*args)

    monkeypatch.setattr(bulk_import, "_apply_batch_with_retry", apply_then_ctrl_c)

    assert main(["import", str(path), "--source", "crm", "--batch-size", "10"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(bulk_import, "_apply_batch_with_retry", real_apply)
    assert main(["import", str(path), "--source", "crm", "--batch-size", "10"]) == 0
    assert "resumed after line 11" in capsys.readouterr().out
    assert golden_count(hub) == 30


def test_a_csv_header_without_source_record_id_is_a_usage_error_and_applies_nothing(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(
        tmp_path / "no-ids.csv", [{"party_type": "organization", "legal_name": "Novo Handel A/S"}]
    )
    point_the_cli_at(hub, tmp_path, monkeypatch)

    assert main(["import", str(path), "--source", "crm"]) == 2
    assert "no source_record_id column" in capsys.readouterr().err
    assert golden_count(hub) == 0


def test_the_import_benchmark_imports_its_synthetic_file_and_refuses_a_database_holding_customers(
    hub: Hub, tmp_path: Path
) -> None:
    assert hub.settings.database_url is not None
    url = hub.settings.database_url

    report = bench_import_on(
        url, hub.settings, records=120, batch_size=50, seed=3, file_format="csv", workdir=tmp_path, say=str
    )

    assert report.import_report.counts == {"applied": 120}
    assert report.golden_records == 119  # record 99 is record 74 keyed twice in the CRM: linked, not new
    assert "records/s" in render(report)
    with pytest.raises(BenchmarkRefused, match="already holds golden records"):
        bench_import_on(
            url, hub.settings, records=10, batch_size=5, seed=4, file_format="csv", workdir=tmp_path
        )


def test_an_import_into_an_empty_hub_analyses_the_tables_it_grows_so_cached_plans_use_their_indexes(
    hub: Hub, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "growing.csv", [csv_cells(m) for m in customers(40)])

    report = import_file(hub, path, "crm", batch_size=10)

    assert report.counts["applied"] == 40
    analysed = rows(
        hub.engine,
        "SELECT relname, last_analyze, analyze_count FROM pg_stat_user_tables"
        " WHERE relname IN ('golden_record', 'match_key') ORDER BY relname",
    )
    # after 10, 20 and 40 rows applied: at every doubling, not after every batch
    assert [(r.relname, r.analyze_count) for r in analysed] == [("golden_record", 3), ("match_key", 3)]


def test_an_ar_row_naming_an_unknown_golden_record_is_rejected_without_replaying_its_batch(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def ar_row(account: str, named: dict[str, str]) -> str:
        payload = {"customer": named, "outstanding": "120.00", "overdue": "0.00", "currency": "MYR"}
        message = {
            "source": "ar",
            "source_record_id": account,
            "change": "upsert",
            "occurred_at": "2026-11-20T10:00:00Z",
            "payload": {**payload, "as_of": "2026-11-20T10:00:00Z"},
        }
        return json.dumps(message)

    path = tmp_path / "ar.jsonl"
    path.write_text(
        "\n".join(
            [
                ar_row("A-1", {"source": "crm", "source_record_id": "CRM-LATER-1"}),
                ar_row("A-2", {"golden_id": "CUS-9999999"}),
                ar_row("A-3", {"source": "crm", "source_record_id": "CRM-LATER-3"}),
            ]
        )
        + "\n"
    )

    with caplog.at_level("INFO", logger="hub.service.bulk_import"):
        report = import_file(hub, path, "ar")

    assert (report.counts["applied"], report.counts["rejected"]) == (2, 1)
    [reject] = [json.loads(line) for line in rejects_path(path).read_text().splitlines()]
    assert (reject["line"], reject["error_code"]) == (2, "unidentifiable")
    assert not [r for r in caplog.records if "row by row" in r.getMessage()]
    assert rows(hub.engine, "SELECT count(*) AS n FROM ar_exposure")[0].n == 2
