"""bibbackup: the repair's state, recorded before the PUT (attempted → applied/undone/restored)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:15:00

A repair's attempt is committed before Alma is touched, so a PUT that landed but was not recorded
can still be undone (``handles restore`` decides from what Alma holds now). Additive only.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bibbackup', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('attempted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('stored_xml', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bibbackup', schema=None) as batch_op:
        batch_op.drop_column('stored_xml')
        batch_op.drop_column('attempted_at')
        batch_op.drop_column('state')
