"""Operational figures read from the database, shared by every process: outcomes, backlog, dead letters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class HubFigures:
    """A snapshot of the counters an operator watches."""

    outcomes: dict[tuple[str, str], int]
    decisions: dict[str, int]
    record_links: int
    golden_records: dict[str, int]
    open_dead_letters: int
    outbox_backlog: int
    outbox_oldest_age_seconds: float
    open_reviews: int = 0
    open_alerts: int = 0


def read_figures(engine: Engine) -> HubFigures:
    """Read the counters in one short transaction."""
    with engine.connect() as conn:
        outcomes = {
            (r.source, r.outcome): int(r.n)
            for r in conn.execute(text("SELECT source, outcome, count AS n FROM message_outcome"))
        }
        decisions = {
            r.outcome: int(r.n)
            for r in conn.execute(text("SELECT outcome, count(*) AS n FROM match_decision GROUP BY outcome"))
        }
        record_links = conn.execute(
            text("SELECT count(*) FROM match_decision WHERE explanation->>'rule' = 'match_score'")
        ).scalar_one()
        golden = {
            r.state: int(r.n)
            for r in conn.execute(
                text(
                    "SELECT state, count(*) AS n FROM golden_record WHERE golden_id <> 'CASH' GROUP BY state"
                )
            )
        }
        dead = conn.execute(text("SELECT count(*) FROM dead_letter WHERE replayed_at IS NULL")).scalar_one()
        backlog = conn.execute(
            text(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                "FROM outbox WHERE published_at IS NULL"
            )
        ).one()
        reviews = conn.execute(text("SELECT count(*) FROM match_review WHERE status = 'open'")).scalar_one()
        alerts = conn.execute(
            text("SELECT count(*) FROM customer_alert WHERE resolved_at IS NULL")
        ).scalar_one()
    return HubFigures(
        outcomes,
        decisions,
        int(record_links),
        golden,
        int(dead),
        int(backlog[0]),
        float(backlog[1]),
        int(reviews),
        int(alerts),
    )


def render_metrics(engine: Engine) -> str:
    """Render the figures in the Prometheus text exposition format."""
    figures = read_figures(engine)
    lines = [
        "# HELP hub_messages_total Inbound messages by source and outcome.",
        "# TYPE hub_messages_total counter",
    ]
    for (source, outcome), count in sorted(figures.outcomes.items()):
        lines.append(f'hub_messages_total{{source="{source}",outcome="{outcome}"}} {count}')
    lines += [
        "# HELP hub_match_decisions_total Match decisions by outcome.",
        "# TYPE hub_match_decisions_total counter",
    ]
    for outcome, count in sorted(figures.decisions.items()):
        lines.append(f'hub_match_decisions_total{{outcome="{outcome}"}} {count}')
    lines += ["# HELP hub_golden_records Golden records by state.", "# TYPE hub_golden_records gauge"]
    for state, count in sorted(figures.golden_records.items()):
        lines.append(f'hub_golden_records{{state="{state}"}} {count}')
    lines += [
        "# HELP hub_dead_letters Dead letters not yet replayed.",
        "# TYPE hub_dead_letters gauge",
        f"hub_dead_letters {figures.open_dead_letters}",
        "# HELP hub_open_reviews Match reviews waiting for a steward.",
        "# TYPE hub_open_reviews gauge",
        f"hub_open_reviews {figures.open_reviews}",
        "# HELP hub_open_alerts Customer alerts (such as suspected blacklist matches) not yet resolved.",
        "# TYPE hub_open_alerts gauge",
        f"hub_open_alerts {figures.open_alerts}",
        "# HELP hub_outbox_backlog Outbox events not yet published.",
        "# TYPE hub_outbox_backlog gauge",
        f"hub_outbox_backlog {figures.outbox_backlog}",
        "# HELP hub_outbox_oldest_age_seconds Age of the oldest unpublished outbox event.",
        "# TYPE hub_outbox_oldest_age_seconds gauge",
        f"hub_outbox_oldest_age_seconds {figures.outbox_oldest_age_seconds:.3f}",
    ]
    return "\n".join(lines) + "\n"
