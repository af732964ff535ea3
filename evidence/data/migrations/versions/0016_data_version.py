"""the data version: one counter every writing transaction bumps, which keys the per-process status cache

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

No row is inserted: the first write creates it (a migrated, never used database stays empty, as restore expects).
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_version'))
    )


def downgrade() -> None:
    op.drop_table('data_version')
