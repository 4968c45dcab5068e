"""The README's configuration table and the settings class name the same variables."""

from __future__ import annotations

import re
from pathlib import Path

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
