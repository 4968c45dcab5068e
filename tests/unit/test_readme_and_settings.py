"""The README's configuration table and the settings class name the same variables."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.cli import main
from hub.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme_and_nothing_else_is() -> None:
    documented = set(re.findall(r"^\| `(HUB_[A-Z_]+)` \|", README.read_text(), flags=re.MULTILINE))
    declared = {f"HUB_{name.upper()}" for name in Settings.model_fields}
    assert documented == declared


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_a_plain_postgresql_url_means_psycopg_3() -> None:
    settings = Settings(database_url="postgresql://u:p@db:5432/hub")
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/hub"


def test_an_empty_bootstrap_variable_selects_the_embedded_broker() -> None:
    assert Settings(kafka_bootstrap_servers="").kafka_bootstrap_servers is None


@pytest.mark.parametrize(
    ("thresholds", "refused"), [("MYR=50000,XYZ=100", "not an ISO 4217"), ("MYR=fifty", "CURRENCY=amount")]
)
def test_approval_thresholds_name_iso_currencies_and_amounts(thresholds: str, refused: str) -> None:
    with pytest.raises(ValidationError, match=refused):
        Settings(credit_approval_thresholds=thresholds)
    assert Settings(credit_approval_thresholds="myr=50000").approval_thresholds == {"MYR": Decimal(50000)}


def test_hub_publish_of_a_missing_file_exits_2_with_one_line_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))

    assert main(["publish", str(tmp_path / "missing.jsonl"), "--topic", "crm"]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "missing.jsonl" in err and "Traceback" not in err


def test_a_setting_that_is_not_valid_stops_hub_with_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_BATCH_SIZE", "0")
    monkeypatch.setenv("HUB_CREDIT_APPROVAL_THRESHOLDS", "MYR=50000,XYZ=100")

    assert main(["worker"]) == 2
    batch, thresholds = sorted(capsys.readouterr().err.splitlines())
    assert batch.startswith("hub: HUB_BATCH_SIZE='0' is not valid:"), batch
    assert thresholds.startswith("hub: HUB_CREDIT_APPROVAL_THRESHOLDS="), thresholds
    assert "'XYZ' is not an ISO 4217 currency code" in thresholds


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://hub:secret@db/hub", "must be a PostgreSQL URL"),
        ("postgresql://hub:secret@[::1", "is not a URL"),
        ("postgresql://hub:secret@db:port/hub", "is not a URL"),
    ],
)
def test_a_database_url_the_hub_cannot_use_stops_hub_without_showing_its_password(
    url: str, complaint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", url)

    assert main(["migrate"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("hub: HUB_DATABASE_URL is not valid:") and complaint in line, line
    assert "secret" not in line


def test_every_command_says_in_one_line_that_the_database_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))

    for command in ("migrate", "republish", "worker"):
        assert main([command]) == 1, command
        err = capsys.readouterr().err
        assert f"hub {command}: cannot reach the database: connection failed" in err, err
        assert "Traceback" not in err


def test_hub_publish_to_a_broker_that_cannot_be_reached_exits_1_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    messages = tmp_path / "one.jsonl"
    messages.write_text('{"message_id": "m-1", "source_record_id": "CRM-1"}\n')

    assert main(["publish", str(messages), "--topic", "crm"]) == 1
    err = capsys.readouterr().err
    assert "hub publish: cannot reach the broker: " in err and "Traceback" not in err


@pytest.mark.parametrize(("written", "seconds"), [("7200", 7200), ("90.5", 90.5), ("PT2H", 7200)])
def test_the_clock_skew_is_read_in_seconds_or_as_an_iso_8601_duration(
    written: str, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_MAX_CLOCK_SKEW", written)
    assert Settings().max_clock_skew.total_seconds() == seconds
