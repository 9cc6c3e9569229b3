"""batches: Run.batch_size, batch_no, batch_of

A large set runs as batches (pipeline.batches): the parent keeps the batch size asked for, each
batch (a child run) its number, and both the number of batches. One batch per number per parent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 18:44:43.503215
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('batch_no', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('batch_of', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_run_parent_batch', ['parent_run_id', 'batch_no'])


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_constraint('uq_run_parent_batch', type_='unique')
        batch_op.drop_column('batch_of')
        batch_op.drop_column('batch_no')
        batch_op.drop_column('batch_size')
