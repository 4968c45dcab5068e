"""Files for `hub import`: flattened CSV columns, JSON Lines defaults, the checkpoint and the progress bar."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub import importing
from hub.importing import (
    Checkpoint,
    FileFacts,
    ImportFileError,
    ImportRow,
    ProgressBar,
    boolean_paths,
    column_of,
    csv_layout,
    csv_row,
    file_format_of,
    flatten,
    inspect_file,
    load_checkpoint,
    read_rows,
    save_checkpoint,
    unknown_columns,
)
from hub.service.intake import ApplySourceChange, InboundMessage, Rejection, read_message

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
MODIFIED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def facts(tmp_path: Path, name: str, text: str) -> FileFacts:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    os.utime(path, (MODIFIED.timestamp(), MODIFIED.timestamp()))
    return inspect_file(path)


def envelope(row: ImportRow) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(row.value)
    return document


def read(row: ImportRow, source: str = "crm") -> ApplySourceChange | Rejection:
    command = read_message(
        InboundMessage("import", 0, row.line, row.key, row.value),
        topic_source=source,
        now=datetime.now(UTC),
        max_clock_skew=timedelta(hours=1),
        max_message_bytes=1_000_000,
    )
    assert not isinstance(command, Rejection) or command.error_code != "payload_too_large"
    assert isinstance(command, ApplySourceChange | Rejection)
    return command


def one_row(tmp_path: Path, header: str, line: str, source: str = "crm") -> ImportRow:
    rows = list(read_rows(facts(tmp_path, "file.csv", f"{header}\n{line}\n"), source))
    assert len(rows) == 1
    return rows[0]


# -- CSV columns ------------------------------------------------------------------------------------------


def test_dotted_columns_build_nested_objects_and_numbered_columns_build_lists(tmp_path: Path) -> None:
    row = one_row(
        tmp_path,
        "source_record_id,party_type,legal_name,tax_ids.0.scheme,tax_ids.0.value,emails.0,emails.1,"
        "addresses.0.city,addresses.0.country,credit.limit,credit.currency,custom_fields.sales_rep",
        "CRM-1,organization,Novo Handel A/S,dk_cvr,13585628,a@novo.dk,b@novo.dk,København,DK,"
        "100000.00,DKK,John Smith",
    )

    assert envelope(row)["payload"] == {
        "party_type": "organization",
        "legal_name": "Novo Handel A/S",
        "tax_ids": [{"scheme": "dk_cvr", "value": "13585628"}],
        "emails": ["a@novo.dk", "b@novo.dk"],
        "addresses": [{"city": "København", "country": "DK"}],
        "credit": {"limit": "100000.00", "currency": "DKK"},
        "custom_fields": {"sales_rep": "John Smith"},
    }


def test_empty_cells_are_absent_and_a_list_entry_with_only_empty_cells_is_left_out(tmp_path: Path) -> None:
    row = one_row(
        tmp_path,
        "source_record_id,party_type,legal_name,trading_name,emails.0,emails.1,phones.0,contacts.0.name",
        "CRM-1,organization,Novo Handel A/S,  ,,b@novo.dk,,",
    )

    assert envelope(row)["payload"] == {
        "party_type": "organization",
        "legal_name": "Novo Handel A/S",
        "emails": ["b@novo.dk"],
    }


def test_rows_without_message_id_or_occurred_at_get_the_stable_defaults_of_the_file(tmp_path: Path) -> None:
    file = facts(tmp_path, "crm.csv", "source_record_id,party_type,legal_name\nCRM-1,organization,Novo\n")
    row = next(read_rows(file, "crm"))

    document = envelope(row)
    assert document["message_id"] == f"import:{file.sha256[:16]}:2"
    assert document["occurred_at"] == "2026-11-20T08:30:00Z"
    assert document["source"] == "crm"
    assert document["change"] == "upsert"
    assert row.key == b"CRM-1"


def test_envelope_columns_given_in_the_file_win_over_the_defaults(tmp_path: Path) -> None:
    row = one_row(
        tmp_path,
        "message_id,source_record_id,occurred_at,change,party_type",
        "m-1,CRM-9,2026-11-22T10:15:00+08:00,delete,",
    )

    assert envelope(row) == {
        "message_id": "m-1",
        "source": "crm",
        "source_record_id": "CRM-9",
        "change": "delete",
        "occurred_at": "2026-11-22T10:15:00+08:00",
        "payload": None,
    }


def test_a_payload_prefix_names_a_payload_field_explicitly(tmp_path: Path) -> None:
    row = one_row(
        tmp_path, "source_record_id,payload.party_type,payload.legal_name", "CRM-1,organization,Novo"
    )

    assert envelope(row)["payload"] == {"party_type": "organization", "legal_name": "Novo"}


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("true", True), ("FALSE", False), ("True", True), ("yes", "yes"), ("1", "1")],
)
def test_boolean_fields_of_the_contract_read_true_or_false_and_leave_anything_else_to_be_rejected(
    tmp_path: Path, cell: str, expected: object
) -> None:
    row = one_row(
        tmp_path, "source_record_id,party_type,contacts.0.name,contacts.0.primary", f"C,person,Jo,{cell}"
    )

    assert envelope(row)["payload"]["contacts"] == [{"name": "Jo", "primary": expected}]


def test_the_contract_s_boolean_fields_are_found_in_each_source_payload() -> None:
    assert boolean_paths("crm") == {("credit", "check_limit"), ("contacts", "*", "primary")}
    assert boolean_paths("ecommerce") == {("email_verified",), ("marketing_opt_in",)}
    assert boolean_paths("pos") == frozenset()


def test_a_boolean_cell_that_is_not_true_or_false_is_rejected_at_its_column(tmp_path: Path) -> None:
    row = one_row(
        tmp_path,
        "source_record_id,party_type,legal_name,credit.limit,credit.check_limit",
        "CRM-1,organization,Novo,1000.00,yes",
    )

    rejection = read(row)
    assert isinstance(rejection, Rejection)
    assert rejection.error_code == "invalid_payload"
    assert row.error_entries([(e.path, e.message) for e in rejection.errors]) == [
        {
            "path": "payload.credit.check_limit",
            "message": "Input should be a valid boolean",
            "column": "credit.check_limit",
        }
    ]


def test_error_paths_name_the_file_s_list_positions_after_empty_entries_were_left_out(tmp_path: Path) -> None:
    row = one_row(
        tmp_path,
        "source_record_id,party_type,legal_name,tax_ids.0.scheme,tax_ids.0.value,tax_ids.1.scheme,tax_ids.1.value",
        "CRM-1,organization,Novo,,,dk_cvr,",
    )

    rejection = read(row)
    assert isinstance(rejection, Rejection)
    assert [e.path for e in rejection.errors] == ["payload.tax_ids[0].value"]  # as the contract saw it
    entries = row.error_entries([(e.path, e.message) for e in rejection.errors])
    assert [(e["path"], e["column"]) for e in entries] == [("payload.tax_ids[1].value", "tax_ids.1.value")]


def test_a_row_with_more_cells_than_the_header_is_a_malformed_row(tmp_path: Path) -> None:
    row = one_row(tmp_path, "source_record_id,party_type", "CRM-1,organization,surplus")

    assert row.problem is not None
    assert row.problem[0] == "malformed_row"
    assert "3 cells but the header names 2 columns" in row.problem[1]


def test_a_row_with_fewer_cells_than_the_header_is_malformed_rather_than_emptying_its_missing_fields(
    tmp_path: Path,
) -> None:
    # a row is the record's whole state: read with its last cells absent, a row cut short by a truncated
    # export would erase those fields of the customer
    row = one_row(tmp_path, "source_record_id,party_type,legal_name", "CRM-1,organization")

    assert row.problem is not None
    assert row.problem[:2] == ("malformed_row", "the row has 2 cells but the header names 3 columns")
    assert row.raw == {"source_record_id": "CRM-1", "party_type": "organization"}


def test_an_unclosed_quote_makes_its_row_malformed_and_the_rows_after_it_are_read(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(
        "source_record_id,party_type,legal_name\n"
        'Q-1,organization,"Unclosed Ltd\n'
        "Q-2,organization,Second Ltd\n"
        'Q-3,organization,"Quoted, Ltd"\n'
        'Q-4,organization,"Stray" Quote Ltd\n'
        "Q-5,organization,Last Ltd\n"
    )
    rows = list(read_rows(inspect_file(path), "crm"))

    assert [(r.line, r.problem[0] if r.problem else None) for r in rows] == [
        (2, "malformed_row"),
        (3, None),
        (4, None),
        (5, "malformed_row"),
        (6, None),
    ]
    assert rows[0].raw == 'Q-1,organization,"Unclosed Ltd'
    assert [envelope(r)["payload"]["legal_name"] for r in rows if r.problem is None] == [
        "Second Ltd",
        "Quoted, Ltd",
        "Last Ltd",
    ]


def test_a_quote_left_open_on_the_last_row_makes_that_row_malformed(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text('source_record_id,party_type,legal_name\nQ-1,organization,One\nQ-2,organization,"Two\n')
    rows = list(read_rows(inspect_file(path), "crm"))

    assert [(r.line, r.problem[0] if r.problem else None) for r in rows] == [(2, None), (3, "malformed_row")]


def test_a_cell_longer_than_the_csv_modules_default_limit_is_read_whole(tmp_path: Path) -> None:
    notes = "x" * 200_000 + "\nQ-FAKE,organization,Injected Ltd"
    path = tmp_path / "long.csv"
    path.write_text(
        f'source_record_id,party_type,legal_name,custom_fields.notes\nQ-1,organization,One,"{notes}"\n'
        "Q-2,organization,Two,\n"
    )
    rows = list(read_rows(inspect_file(path), "crm"))

    assert [(r.line, r.problem) for r in rows] == [(2, None), (4, None)]
    assert envelope(rows[0])["payload"]["custom_fields"]["notes"] == notes
    assert envelope(rows[1])["source_record_id"] == "Q-2"


def test_a_header_that_is_not_utf8_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1-header.csv"
    path.write_bytes(b"source_record_id,party_type,Stra\xdfe\nCRM-1,organization,x\n")

    with pytest.raises(ImportFileError, match="column 3 of the header is not UTF-8"):
        list(read_rows(inspect_file(path), "crm"))


def test_a_json_lines_file_may_begin_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    line = json.dumps({"source": "crm", "source_record_id": "B-1", "change": "upsert", "payload": {}})
    path.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\n")
    [row] = list(read_rows(inspect_file(path), "crm"))

    assert envelope(row)["source_record_id"] == "B-1"


def test_a_json_line_with_an_unpaired_surrogate_is_read_for_the_intake_to_reject(tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"source": "crm", "source_record_id": "S-1", "payload": {"legal_name": "A\\ud800"}}\n')
    [row] = list(read_rows(inspect_file(path), "crm"))

    assert envelope(row)["payload"]["legal_name"] == "A\ud800"
    rejection = read(row)
    assert isinstance(rejection, Rejection)
    assert (rejection.error_code, rejection.errors[0].path) == ("invalid_payload", "payload.legal_name")


def test_a_cell_that_is_not_utf8_rejects_its_row_only(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"source_record_id,party_type,legal_name\n"
        b"CRM-1,organization,K\xf8benhavn ApS\n"
        b"CRM-2,organization,Novo\n"
    )
    rows = list(read_rows(inspect_file(path), "crm"))

    assert rows[0].problem is not None
    assert rows[0].problem[0] == "not_utf8"
    assert rows[0].problem[2] == (("legal_name", "not UTF-8"),)
    assert rows[1].problem is None


def test_a_row_quoted_over_several_lines_is_numbered_by_its_first_line(tmp_path: Path) -> None:
    text = (
        "source_record_id,party_type,legal_name,addresses.0.line1\n"
        'CRM-1,organization,Novo,"Vesterbrogade 1\n2nd floor"\n'
        "CRM-2,organization,Fjord,Havnegade 3\n"
    )
    rows = list(read_rows(facts(tmp_path, "multi.csv", text), "crm"))

    assert [r.line for r in rows] == [2, 4]
    assert envelope(rows[0])["payload"]["addresses"] == [{"line1": "Vesterbrogade 1\n2nd floor"}]


def test_blank_rows_are_skipped_and_reading_resumes_after_a_given_line(tmp_path: Path) -> None:
    text = "source_record_id,party_type\nA,person\n,\nB,person\n\nC,person\n"
    file = facts(tmp_path, "resume.csv", text)

    assert [r.line for r in read_rows(file, "crm")] == [2, 4, 6]
    assert [r.line for r in read_rows(file, "crm", after_line=4)] == [6]


@pytest.mark.parametrize(
    ("header", "complaint"),
    [
        ("party_type,legal_name", "no source_record_id column"),
        ("source_record_id,legal_name,legal_name", "'legal_name' appears twice"),
        ("source_record_id,credit,credit.limit", "'credit' is a value"),
        ("source_record_id,emails.0,emails.primary", "mix list positions and field names"),
        ("source_record_id,credit..limit", "empty part"),
        ("source_record_id,0.name", "starts with a number"),
        ("source_record_id,,legal_name", "column 2 of the header has no name"),
    ],
)
def test_a_header_that_breaks_the_column_convention_is_refused_with_the_column_named(
    header: str, complaint: str
) -> None:
    with pytest.raises(ImportFileError, match=complaint):
        csv_layout(header.split(","), "crm")


def test_flattening_a_payload_and_reading_it_back_gives_the_same_payload(tmp_path: Path) -> None:
    payload = json.loads((EXAMPLES / "crm.customer.json").read_text())["payload"]
    cells = flatten(payload)
    layout = csv_layout(["source_record_id", *cells], "crm")
    file = facts(tmp_path, "x.csv", "")

    row = csv_row(layout, file, 2, ["CRM-000123", *cells.values()])

    assert cells["contacts.0.primary"] == "true"
    assert cells["tax_ids.0.scheme"] == "sg_uen"
    assert envelope(row)["payload"] == payload


def test_column_of_turns_an_error_path_into_the_csv_column() -> None:
    assert column_of("payload.addresses[1].postal_code") == "addresses.1.postal_code"
    assert column_of("occurred_at") == "occurred_at"


# -- JSON Lines -------------------------------------------------------------------------------------------


def test_json_lines_keep_their_envelope_and_fill_only_a_missing_message_id_or_occurred_at(
    tmp_path: Path,
) -> None:
    full = {
        "message_id": "m-1",
        "source": "crm",
        "source_record_id": "CRM-1",
        "change": "upsert",
        "occurred_at": "2026-11-22T10:15:00Z",
        "payload": {"party_type": "person"},
    }
    bare = {
        "source": "crm",
        "source_record_id": "CRM-2",
        "change": "upsert",
        "payload": {"party_type": "person"},
    }
    file = facts(tmp_path, "crm.jsonl", f"{json.dumps(full)}\n\n{json.dumps(bare)}\nnot json\n")

    rows = list(read_rows(file, "crm"))

    assert [r.line for r in rows] == [1, 3, 4]
    assert envelope(rows[0]) == full
    assert envelope(rows[1])["message_id"] == f"import:{file.sha256[:16]}:3"
    assert envelope(rows[1])["occurred_at"] == "2026-11-20T08:30:00Z"
    rejection = read(rows[2])
    assert isinstance(rejection, Rejection)
    assert rejection.error_code == "not_json"
    # where in the message, not a line number to mistake for the file's
    assert rejection.errors[0].message == "Expecting value at character 1 of the message"
    assert rows[2].raw == "not json"


def test_the_format_is_told_by_the_extension_unless_given() -> None:
    assert file_format_of(Path("a.CSV")) == "csv"
    assert file_format_of(Path("a.ndjson")) == "jsonl"
    assert file_format_of(Path("a.dat"), "jsonl") == "jsonl"
    with pytest.raises(ImportFileError, match="--format"):
        file_format_of(Path("a.dat"))


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"cannot read .*nope\.csv"):
        inspect_file(tmp_path / "nope.csv")


# -- the example files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source", "rows"),
    [
        ("crm.csv", "crm", 4),
        ("pos.csv", "pos", 3),
        ("ecommerce.csv", "ecommerce", 2),
        ("crm.jsonl", "crm", 3),
    ],
)
def test_every_row_of_the_import_examples_follows_the_contract(name: str, source: str, rows: int) -> None:
    file = inspect_file(EXAMPLES / "import" / name)
    read_back = list(read_rows(file, source))

    assert len(read_back) == rows
    for row in read_back:
        command = read_message(
            InboundMessage("import", 0, row.line, row.key, row.value),
            topic_source=source,
            now=datetime.now(UTC),
            max_clock_skew=timedelta(hours=1),
            max_message_bytes=1_000_000,
        )
        assert not isinstance(command, Rejection), (name, row.line, command)


# -- checkpoint and progress ------------------------------------------------------------------------------


def test_a_checkpoint_written_is_read_back_and_a_damaged_one_means_from_the_top(tmp_path: Path) -> None:
    path = tmp_path / "x.csv.hub-import.json"
    checkpoint = Checkpoint("ab" * 32, "crm", 1001, 1000, "r.jsonl", 512, {"applied": 998, "rejected": 2})

    save_checkpoint(path, checkpoint)
    assert load_checkpoint(path) == checkpoint

    path.write_text("{not json")
    assert load_checkpoint(path) is None
    assert load_checkpoint(tmp_path / "missing.json") is None


def test_the_progress_bar_shows_rows_rate_and_eta_and_writes_lines_when_not_on_a_terminal(
    tmp_path: Path,
) -> None:
    stream = io.StringIO()
    bar = ProgressBar("importing crm.csv", stream=stream, interval=0.0)
    bar.start(facts(tmp_path, "f.csv", "h\n" + "r\n" * 99), 0)
    bar.started -= 10  # as if ten seconds had passed

    bar.update(51, 50)
    bar.finish()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "50 rows" in lines[0]
    assert "5 rows/s" in lines[0]
    assert "51.0%" in lines[0]
    assert "ETA 0:00:09" in lines[0]
    assert "\r" not in stream.getvalue()


def test_csv_columns_the_sources_contract_does_not_name_are_told_apart_from_its_fields(
    tmp_path: Path,
) -> None:
    header = (
        "source_record_id,message_id,payload.legal_name,emails.0,tax_ids.1.value,custom_fields.sales_rep,"
        "email,Phone Number,credit.limt\n"
    )
    found = facts(tmp_path, "columns.csv", header + "C-1,m,Name,a@b.example,x,rep,a@b.example,1,2\n")

    assert unknown_columns(found, "crm") == ["email", "Phone Number", "credit.limt"]
    assert unknown_columns(found, "pos") == [
        "payload.legal_name",
        "emails.0",
        "tax_ids.1.value",
        "custom_fields.sales_rep",
        "Phone Number",
        "credit.limt",
    ]


@pytest.mark.parametrize("example", sorted((EXAMPLES / "import").glob("*.csv")), ids=lambda p: p.name)
def test_the_example_files_name_only_columns_of_their_sources_contract(example: Path) -> None:
    assert unknown_columns(inspect_file(example), example.stem) == []


def test_a_cell_longer_than_the_limit_stops_the_file_rather_than_reading_on_inside_the_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "CSV_FIELD_LIMIT", 1000)
    cell = "x" * 600 + "\nQ-FAKE,organization,Injected Ltd,\n" + "y" * 600
    path = tmp_path / "huge.csv"
    path.write_text(
        "source_record_id,party_type,legal_name,custom_fields.notes\n"
        f'Q-1,organization,One,\nQ-2,organization,Two,"{cell}"\nQ-3,organization,Three,\n'
    )
    rows = read_rows(inspect_file(path), "crm")

    assert envelope(next(rows))["source_record_id"] == "Q-1"
    with pytest.raises(ImportFileError, match="line 3: a cell is longer than 1,000 characters"):
        next(rows)


def test_a_json_line_whose_source_record_id_holds_a_lone_surrogate_is_rejected_at_that_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "id.jsonl"
    path.write_text('{"source": "crm", "source_record_id": "S-\\ud800", "payload": {"legal_name": "A"}}\n')
    [row] = list(read_rows(inspect_file(path), "crm"))

    assert row.key is None
    rejection = read(row)
    assert isinstance(rejection, Rejection)
    assert (rejection.error_code, rejection.errors[0].path) == ("invalid_envelope", "source_record_id")
