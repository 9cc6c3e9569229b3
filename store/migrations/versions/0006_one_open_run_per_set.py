"""one open run per set: Run.holds_set and a unique partial index on the open runs that hold a set

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 18:45:00

Two `handles migrate` on the same set at the same moment cannot both insert a run: the second
insert breaks ``ux_run_one_open_per_set``. Runs made before this revision keep ``holds_set`` false
(they may already break the rule); ``handles migrate`` still refuses while one of them is open.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OPEN_HOLDING_RUN = "holds_set AND state NOT IN ('succeeded', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holds_set", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(
        "ux_run_one_open_per_set",
        "run",
        ["set_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_HOLDING_RUN),
        postgresql_where=sa.text(OPEN_HOLDING_RUN),
    )


def downgrade() -> None:
    op.drop_index("ux_run_one_open_per_set", table_name="run")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("holds_set")
