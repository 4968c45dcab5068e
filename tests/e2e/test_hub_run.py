"""`hub run --demo` as a newcomer meets it: embedded servers, demo feed, summary, Ctrl-C, a second run."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hub.demo import demo_feed, expected_outcomes
from hub.runtime.embedded import free_port

pytestmark = pytest.mark.integration


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_DATA_DIR": str(data_dir), "HUB_API_PORT": str(port), "HUB_BROKER_SESSION_TIMEOUT": "6"})
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "run", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until_ready(process: subprocess.Popen[str], timeout: float = 180) -> str:
    assert process.stdout is not None
    output = ""
    deadline = time.monotonic() + timeout
    while "Press Ctrl-C" not in output:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"hub run exited early:\n{output}")
        output += line
        if time.monotonic() > deadline:
            raise AssertionError(f"hub run was not ready in {timeout}s:\n{output}")
    return output


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    return rest


def _count(output: str, outcome: str) -> int:
    match = re.search(rf"^\s+{outcome}\s+(\d+)", output, flags=re.MULTILINE)
    assert match, output
    return int(match.group(1))


def test_hub_run_demo_processes_the_feed_prints_a_summary_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / ".hub"
    port = free_port()
    expected = expected_outcomes(demo_feed())

    first = _start(data_dir, port)
    try:
        output = _read_until_ready(first)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert json.load(response)["status"] == "ready"
        runtime = json.loads((data_dir / "runtime.json").read_text())
    finally:
        output += _stop(first)

    assert first.returncode == 0, output
    assert _count(output, "applied") == expected["applied"]
    assert _count(output, "duplicate") == expected["duplicate"]
    assert _count(output, "stale") == expected["stale"]
    assert _count(output, "dead_lettered") == sum(
        n for k, n in expected.items() if k.startswith("dead_letter")
    )
    assert f"http://127.0.0.1:{port}" in output
    links = re.search(r"links made\s+(\d+)", output)
    assert links and int(links.group(1)) >= 50, output  # the demo's cross-source duplicates
    assert not (data_dir / "runtime.json").exists()
    broker_port = int(runtime["kafka_bootstrap_servers"].rsplit(":", 1)[1])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", broker_port), timeout=1).close()

    second = _start(data_dir, port)
    try:
        again = _read_until_ready(second)
    finally:
        again += _stop(second)
    assert second.returncode == 0, again
    republished = re.search(r"republish\s+(\d+) golden records", again)
    assert republished and int(republished.group(1)) > 0, again
    assert _count(again, "applied") == 0
