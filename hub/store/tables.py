"""The hub's tables as SQLAlchemy Core metadata; Alembic migrations create them, a test keeps both equal."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

golden_record = Table(
    "golden_record",
    metadata,
    Column("golden_id", Text, primary_key=True),
    # active | deactivated | retired | erased
    Column("state", Text, nullable=False, server_default=text("'active'")),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Column("survivor_id", Text, ForeignKey("golden_record.golden_id"), nullable=True),
    Column("customer", JSONB, nullable=True),
    Column("source_refs", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("lineage", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("data_quality", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column(
        "search_name",
        Text,
        Computed(
            "lower(coalesce(customer->>'legal_name', '') || ' ' || coalesce(customer->>'trading_name', '') "
            "|| ' ' || coalesce(customer->>'first_name', '') || ' ' || coalesce(customer->>'last_name', ''))",
            persisted=True,
        ),
    ),
    Index(
        "ix_golden_record_search_name",
        "search_name",
        postgresql_using="gin",
        postgresql_ops={"search_name": "gin_trgm_ops"},
    ),
)

golden_version = Table(
    "golden_version",
    metadata,
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event", JSONB, nullable=False),
    # what caused it: {"message_id": ...} or, later, a steward action
    Column("cause", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("golden_id", "version"),
)

source_record = Table(
    "source_record",
    metadata,
    Column("source", Text, nullable=False),
    Column("source_record_id", Text, nullable=False),
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=True),
    Column("detached", Boolean, nullable=False, server_default=text("false")),
    Column("last_occurred_at", DateTime(timezone=True), nullable=False),
    Column("last_message_id", Text, nullable=False),
    Column("parent_source_record_id", Text, nullable=True),
    # the normalised record survivorship reads; the payload as received, unknown fields included
    Column("record", JSONB, nullable=False),
    Column("payload", JSONB, nullable=True),
    Column("issues", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("source", "source_record_id"),
    Index("ix_source_record_golden_id", "golden_id"),
    Index("ix_source_record_parent", "source", "parent_source_record_id"),
)

match_key = Table(
    "match_key",
    metadata,
    # identifier | email | phone | name, ...: the blocking keys candidates are found by
    Column("kind", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_record_id", Text, nullable=False),
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    PrimaryKeyConstraint("kind", "value", "source", "source_record_id"),
    Index("ix_match_key_source_record", "source", "source_record_id"),
    Index("ix_match_key_golden_id", "golden_id"),
)

match_decision = Table(
    "match_decision",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", Text, nullable=False),
    Column("source_record_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    # new | link
    Column("outcome", Text, nullable=False),
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("explanation", JSONB, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("ix_match_decision_golden_id", "golden_id"),
    Index("ix_match_decision_source_ref", "source", "source_record_id"),
)

match_review = Table(
    "match_review",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", Text, nullable=False),
    Column("source_record_id", Text, nullable=False),
    # the record's own golden record for now, and the one it may belong to
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("candidate_golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("probability", Double, nullable=False),
    Column("explanation", JSONB, nullable=False),
    # open | merged | distinct | superseded
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Index("ix_match_review_open", "created_at", postgresql_where=text("status = 'open'")),
    Index(
        "ux_match_review_open_pair",
        "golden_id",
        "candidate_golden_id",
        unique=True,
        postgresql_where=text("status = 'open'"),
    ),
)

distinct_pair = Table(
    "distinct_pair",
    metadata,
    Column("golden_id_a", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("golden_id_b", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("golden_id_a", "golden_id_b"),
)

processed_message = Table(
    "processed_message",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("source", Text, nullable=False),
    # applied | stale
    Column("outcome", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("ix_processed_message_processed_at", "processed_at"),
)

message_outcome = Table(
    "message_outcome",
    metadata,
    Column("source", Text, nullable=False),
    # applied | duplicate | stale | dead_lettered
    Column("outcome", Text, nullable=False),
    Column("count", BigInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("source", "outcome"),
)

dead_letter = Table(
    "dead_letter",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("error_code", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("errors", JSONB, nullable=False),
    Column("source_topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=False),
    Column("message_id", Text, nullable=True),
    Column("dead_lettered_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
    # applied | duplicate | stale, once a replay succeeded
    Column("replay_outcome", Text, nullable=True),
    Column("replayed_by", Text, nullable=True),
    Index("ix_dead_letter_open", "dead_lettered_at", postgresql_where=text("replayed_at IS NULL")),
    Index("ix_dead_letter_position", "source_topic", "partition", "offset"),
    Index(
        "ix_dead_letter_open_content",
        "source_topic",
        func.md5(column("value")),
        postgresql_where=text("replayed_at IS NULL"),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("key", LargeBinary, nullable=True),
    Column("value", Text, nullable=False),
    Column("golden_id", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("ix_audit_log_target", "target"),
)

golden_override = Table(
    "golden_override",
    metadata,
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    # a survivorship attribute, or credit.<field>
    Column("attribute", Text, nullable=False),
    Column("value", JSONB, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("golden_id", "attribute"),
)

customer_alert = Table(
    "customer_alert",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    # suspected_blacklist_match | exposure_unattributed
    Column("kind", Text, nullable=False),
    Column("detail", JSONB, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", Text, nullable=True),
    Index("ix_customer_alert_open", "golden_id", postgresql_where=text("resolved_at IS NULL")),
)

ar_exposure = Table(
    "ar_exposure",
    metadata,
    # the AR account: the source_record_id of its messages
    Column("account_id", Text, primary_key=True),
    # null while the customer AR named is not known yet (parked)
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=True),
    Column("named_golden_id", Text, nullable=True),
    Column("named_source", Text, nullable=True),
    Column("named_source_record_id", Text, nullable=True),
    Column("outstanding", Numeric(18, 2), nullable=False),
    Column("overdue", Numeric(18, 2), nullable=True),
    Column("currency", Text, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("message_id", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("ix_ar_exposure_golden_id", "golden_id"),
    Index(
        "ix_ar_exposure_parked",
        "named_source",
        "named_source_record_id",
        postgresql_where=text("golden_id IS NULL"),
    ),
)

credit_status = Table(
    "credit_status",
    metadata,
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), primary_key=True),
    Column("version", Integer, nullable=False),
    # the last published status, without event_id and as_of
    Column("status", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

credit_limit_proposal = Table(
    "credit_limit_proposal",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("golden_id", Text, ForeignKey("golden_record.golden_id"), nullable=False),
    Column("credit_limit", Numeric(18, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("previous_limit", Numeric(18, 2), nullable=True),
    Column("proposed_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # pending | approved | rejected
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("decided_by", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("ix_credit_limit_proposal_pending", "golden_id", postgresql_where=text("status = 'pending'")),
)
