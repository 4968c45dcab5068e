"""The HTTP API: operations endpoints without a token; golden records and the review queue behind one."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from hub.api import latency, problems
from hub.api.deps import HubDep
from hub.api.routes import credit, customers, dead_letters, reviews
from hub.api.security import parse_tokens
from hub.bootstrap import Hub
from hub.store.metrics import render_metrics
from hub.streams.kafka import client_options, consumer_lag

log = logging.getLogger(__name__)


async def _broker_reachable(hub: Hub) -> bool:
    try:
        options = client_options(hub.settings)
    except RuntimeError:  # no broker configured: not ready, rather than an error
        return False
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=3)
        await asyncio.wait_for(admin.list_topics(), timeout=3)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason is reported below
        return False
    finally:
        await admin.close()


async def _consumer_lag_metric(hub: Hub) -> str:
    """The consumer group's lag per source partition; nothing when the broker cannot say within 3 s."""
    try:
        lag = await asyncio.wait_for(consumer_lag(hub.settings), timeout=3)
    except Exception as error:  # noqa: BLE001 - a scrape still reports what the database knows
        log.warning("consumer lag unavailable: %s", error or type(error).__name__)
        return ""
    lines = [
        "# HELP hub_consumer_lag Messages of a source topic partition the worker has not committed yet.",
        "# TYPE hub_consumer_lag gauge",
        *(f'hub_consumer_lag{{topic="{t}",partition="{p}"}} {n}' for (t, p), n in sorted(lag.items())),
    ]
    return "\n".join(lines) + "\n"


def _database_reachable(hub: Hub) -> bool:
    try:
        with hub.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def create_api(hub: Hub) -> FastAPI:
    """Build the FastAPI app around a wired hub."""
    api = FastAPI(
        title="Customer master hub",
        version="0.1.0",
        description="Golden customer records for data stewards: search, detail, history, the review queue. "
        "Bearer tokens from HUB_API_TOKENS; errors are application/problem+json.",
    )
    api.state.hub = hub
    api.state.tokens = parse_tokens(hub.settings.api_tokens)
    problems.install(api)
    request_latency = latency.RequestLatency()
    latency.install(api, request_latency)
    api.include_router(customers.router)
    api.include_router(reviews.router)
    api.include_router(dead_letters.router)
    api.include_router(credit.router)

    @api.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Answer while the process is alive."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["operations"])
    async def readyz(hub: HubDep) -> JSONResponse:
        """Answer 200 when the database and the broker are reachable, else 503 naming what is not."""
        database = await asyncio.to_thread(_database_reachable, hub)
        broker = await _broker_reachable(hub)
        checks = {
            "database": "ok" if database else "unreachable",
            "broker": "ok" if broker else "unreachable",
        }
        ready = database and broker
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
        )

    @api.get("/metrics", tags=["operations"])
    async def metrics(hub: HubDep) -> Response:
        """Expose Prometheus metrics: messages, decisions, reviews, dead letters, outbox, request latency."""
        body = (
            await asyncio.to_thread(render_metrics, hub.engine)
            + await _consumer_lag_metric(hub)
            + request_latency.render()
        )
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return api
