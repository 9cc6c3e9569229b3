"""the profile's set is made while the migration runs: Run.profile_set_claimed_at

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:40:00

The set step 3 runs on is now made ahead, while the migration is still running, by a task of its
own; the step's own visit may make it too (the migration ended first). The claim keeps it to one
maker at a time.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_set_claimed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("profile_set_claimed_at")
