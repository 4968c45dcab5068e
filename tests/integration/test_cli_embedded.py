"""A single `hub` command with no database configured says which embedded PostgreSQL it uses, and stops it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_a_command_without_a_database_names_the_embedded_one_it_started_and_stops_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(tmp_path / ".hub")
    done = subprocess.run(
        [sys.executable, "-m", "hub", "migrate"],
        check=False,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    pgdata = tmp_path / ".hub" / "postgres"
    assert f"using the embedded PostgreSQL in {pgdata} (new and empty)" in done.stderr
    assert not (pgdata / "postmaster.pid").exists()  # not left running after the command
