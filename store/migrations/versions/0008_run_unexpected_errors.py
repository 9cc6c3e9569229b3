"""a run stops after repeated unexpected errors: Run.unexpected_errors

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 06:10:00

A link of a run's chain that fails with an error no task declared (a bug, an answer nobody
foresaw) used to leave the run to the stalled-run check, which resumed it, and it failed the same
way, every STALL_SECONDS without end. The count lets the third such error stop the run.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unexpected_errors", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("unexpected_errors")
