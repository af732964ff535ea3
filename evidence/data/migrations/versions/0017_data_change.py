"""what each data version changed, as a perimeter's status sees it: a node behind recomputes those items alone

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_change',
    sa.Column('version', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('reach', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_data_change'))
    )


def downgrade() -> None:
    op.drop_table('data_change')
