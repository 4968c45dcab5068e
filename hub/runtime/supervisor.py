"""`hub run`: everything on one machine, embedded servers where no URLs are set, until Ctrl-C.

The worker (with the outbox relay) and the API run as child processes, each a plain `hub worker` /
`hub api`, so what runs here is what a deployment runs. Their logs go to HUB_DATA_DIR/logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from hub.bootstrap import bootstrap, runtime_file
from hub.runtime.embedded import EmbeddedBroker, EmbeddedPostgres
from hub.service.republish import republish_golden_records
from hub.settings import Settings
from hub.store.metrics import HubFigures, read_figures
from hub.store.migrate import upgrade
from hub.store.uow import unit_of_work
from hub.streams.kafka import ensure_topics


@dataclass
class Supervisor:
    """Starts and stops every process `hub run` owns, in order."""

    settings: Settings
    say: Callable[[str], None] = print
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start_servers(self) -> Settings:
        """Start the embedded servers the settings leave unset; return settings naming them."""
        settings = self.settings
        data_dir = settings.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        updates: dict[str, object] = {"data_dir": data_dir}
        if settings.database_url is None:
            self.postgres = EmbeddedPostgres(data_dir / "postgres")
            updates["database_url"] = self.postgres.start()
            self.say(f"  database   embedded PostgreSQL, data in {data_dir / 'postgres'}")
        else:
            self.say("  database   HUB_DATABASE_URL")
        if settings.kafka_bootstrap_servers is None:
            self.broker = EmbeddedBroker(log_path=data_dir / "logs" / "tansu.log")
            updates["kafka_bootstrap_servers"] = self.broker.start()
            self.say(f"  broker     embedded Tansu on {updates['kafka_bootstrap_servers']} (in memory)")
        else:
            self.say(f"  broker     {settings.kafka_bootstrap_servers}")
        self.settings = settings.model_copy(update=updates)
        runtime_file(self.settings).write_text(
            json.dumps(
                {
                    "kafka_bootstrap_servers": self.settings.kafka_bootstrap_servers,
                    "database_url": self.settings.database_url,
                    "api": f"http://{self.settings.api_host}:{self.settings.api_port}",
                    "pid": os.getpid(),
                }
            )
        )
        return self.settings

    def prepare(self) -> int:
        """Migrate the schema, create missing topics, and republish to a fresh embedded broker."""
        hub = bootstrap(self.settings)
        try:
            upgrade(hub.engine)
            created = asyncio.run(ensure_topics(self.settings))
            self.say(f"  schema     migrated; topics created: {len(created)}")
            if self.broker is None:
                return 0
            with unit_of_work(hub.engine) as uow:
                queued = republish_golden_records(uow, hub.context())
            if queued.customers:
                self.say(
                    f"  republish  {queued.customers} golden records and {queued.credit_statuses} credit"
                    " statuses queued for the fresh in-memory broker"
                )
            return queued.customers
        finally:
            hub.engine.dispose()

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["HUB_DATABASE_URL"] = self.settings.database_url or ""
        env["HUB_KAFKA_BOOTSTRAP_SERVERS"] = self.settings.kafka_bootstrap_servers or ""
        env["HUB_DATA_DIR"] = str(self.settings.data_dir)
        return env

    def spawn(self, name: str, *args: str) -> None:
        """Start one `hub` sub-command as a child process, its output in the logs folder."""
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = (logs / f"{name}.log").open("ab")
        self._logs.append(log)
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "hub", *args],
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order.
        )

    def check_children(self) -> str | None:
        """Return the name of a child that exited, if any."""
        for name, child in self.children.items():
            if child.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        """Stop the children (they drain and commit), then the embedded servers."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
        for log in self._logs:
            log.close()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        with contextlib.suppress(FileNotFoundError):
            runtime_file(self.settings).unlink()


def wait_for_api(url: str, timeout: float = 30.0) -> bool:
    """Poll the API's liveness endpoint until it answers."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


def total_outcomes(figures: HubFigures) -> int:
    """Count every inbound message that reached an outcome."""
    return sum(figures.outcomes.values())


def summary(before: HubFigures, after: HubFigures, api_url: str, logs: Path) -> str:
    """Render the one-screen summary of what this run did."""
    outcome_names = ("applied", "duplicate", "stale", "dead_lettered")
    by_outcome = {
        name: sum(c for (_, o), c in after.outcomes.items() if o == name)
        - sum(c for (_, o), c in before.outcomes.items() if o == name)
        for name in outcome_names
    }
    sources = sorted({s for s, _ in after.outcomes})
    lines = ["", "Demo feed processed", "  messages by outcome"]
    for name in outcome_names:
        per_source = ", ".join(
            f"{s} {after.outcomes.get((s, name), 0) - before.outcomes.get((s, name), 0)}" for s in sources
        )
        lines.append(f"    {name:<14}{by_outcome[name]:>5}   ({per_source})")
    created = after.decisions.get("new", 0) - before.decisions.get("new", 0)
    links = after.record_links - before.record_links
    lines += [
        f"  golden records created  {created} (now {sum(after.golden_records.values())} in all: "
        + ", ".join(f"{n} {s}" for s, n in sorted(after.golden_records.items()))
        + ")",
        f"  links made              {links} (records joined to another source's golden record)",
        f"  dead letters            {after.open_dead_letters} open (topic mdm.deadletter.v1)",
        f"  outbox backlog          {after.outbox_backlog}",
        "",
        f"API listening on {api_url}  (try {api_url}/healthz, {api_url}/metrics, {api_url}/docs)",
        f"Logs in {logs}. Press Ctrl-C to stop.",
    ]
    if by_outcome["applied"] == 0 and by_outcome["duplicate"] > 0:
        lines.insert(
            3, "  (the demo feed was applied by an earlier run: its redeliveries count as duplicates)"
        )
    return "\n".join(lines)


class Interrupted(Exception):
    """Raised by the signal handler to unwind `hub run`."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def run(settings: Settings, *, demo: bool) -> int:
    """Run the whole hub until Ctrl-C or SIGTERM; return the process exit code."""
    if demo and (settings.kafka_bootstrap_servers or settings.database_url):
        print(
            "hub run --demo refuses to publish synthetic customers to a configured cluster or database; "
            "unset HUB_KAFKA_BOOTSTRAP_SERVERS and HUB_DATABASE_URL, or run without --demo.",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    supervisor = Supervisor(settings)
    print("Customer master hub starting")
    try:
        settings = supervisor.start_servers()
        supervisor.prepare()
        supervisor.spawn("worker", "worker")
        supervisor.spawn("api", "api")
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        if not wait_for_api(api_url):
            print(f"the API did not come up; see {settings.data_dir / 'logs' / 'api.log'}", file=sys.stderr)
            return 1
        print(f"  worker     started (consumer group {settings.consumer_group}); API on {api_url}")
        if demo:
            from hub.runtime.demo_run import run_demo

            before, after = run_demo(settings)
            print(summary(before, after, api_url, settings.data_dir / "logs"))
        else:
            print(f"Ready. API on {api_url}. Press Ctrl-C to stop.")
        while True:
            exited = supervisor.check_children()
            if exited is not None:
                print(f"the {exited} process exited; see {settings.data_dir / 'logs' / (exited + '.log')}")
                return 1
            time.sleep(0.5)
    except Interrupted:
        print("\nstopping ...")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()
        print("stopped")


def figures_now(settings: Settings) -> HubFigures:
    """Read the hub's counters once."""
    hub = bootstrap(settings)
    try:
        return read_figures(hub.engine)
    finally:
        hub.engine.dispose()
