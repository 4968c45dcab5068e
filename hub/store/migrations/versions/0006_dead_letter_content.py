"""Find an open dead letter by its content: a bad message published again is not stored twice.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_dead_letter_open_content ON dead_letter (source_topic, md5(value))"
        " WHERE replayed_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_dead_letter_open_content")
