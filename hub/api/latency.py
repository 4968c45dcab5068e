"""Request latency of this API process, as a Prometheus histogram per route template and status."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Series:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0


class RequestLatency:
    """Count requests into latency buckets; labelled by route template, never by raw path (no ids)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._lock = threading.Lock()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request."""
        key = (method, route, f"{status // 100}xx")
        with self._lock:
            series = self._series.setdefault(key, _Series())
            series.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            series.total += seconds

    def render(self) -> str:
        """Render the histogram in the Prometheus text format."""
        lines = [
            "# HELP hub_http_request_duration_seconds API request latency by method, route and status.",
            "# TYPE hub_http_request_duration_seconds histogram",
        ]
        with self._lock:
            items = sorted((k, _Series(list(v.counts), v.total)) for k, v in self._series.items())
        for (method, route, status), series in items:
            labels = f'method="{method}",route="{route}",status="{status}"'
            cumulative = 0
            for bound, count in zip(BUCKETS, series.counts, strict=False):
                cumulative += count
                lines.append(
                    f'hub_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}'
                )
            cumulative += series.counts[-1]
            lines.append(f'hub_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {cumulative}')
            lines.append(f"hub_http_request_duration_seconds_sum{{{labels}}} {series.total:.6f}")
            lines.append(f"hub_http_request_duration_seconds_count{{{labels}}} {cumulative}")
        return "\n".join(lines) + "\n"


def _route_template(request: Request) -> str:
    """Return the matched route's path template; the router leaves the route in the scope."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install(api: FastAPI, latency: RequestLatency) -> None:
    """Time every request of the app."""

    @api.middleware("http")
    async def time_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            latency.observe(request.method, _route_template(request), status, time.perf_counter() - started)
