"""`python -m consumers.sales_credit_gate`: consume credit status and answer sales over HTTP until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from consumers.sales_credit_gate.service import serve
from consumers.sales_credit_gate.settings import GateSettings


def parse_settings(argv: list[str] | None = None) -> GateSettings:
    """Read the settings from GATE_ variables, with command-line flags taking precedence."""
    parser = argparse.ArgumentParser(prog="python -m consumers.sales_credit_gate", description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (GATE_KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--host", help="HTTP host (GATE_HTTP_HOST)")
    parser.add_argument("--port", type=int, help="HTTP port (GATE_HTTP_PORT)")
    parser.add_argument("--state-dir", type=Path, help="where the SQLite projection lives (GATE_STATE_DIR)")
    args = parser.parse_args(argv)
    overrides = {
        "kafka_bootstrap_servers": args.bootstrap,
        "http_host": args.host,
        "http_port": args.port,
        "state_dir": args.state_dir,
    }
    return GateSettings().model_copy(update={k: v for k, v in overrides.items() if v is not None})


async def _main(settings: GateSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)


def main(argv: list[str] | None = None) -> None:
    """Run the gate."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main(parse_settings(argv)))


if __name__ == "__main__":
    main()
