"""readiness snapshots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('readiness_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('taken_on', sa.Date(), nullable=False),
    sa.Column('compliant', sa.Integer(), nullable=False),
    sa.Column('partial', sa.Integer(), nullable=False),
    sa.Column('non_compliant', sa.Integer(), nullable=False),
    sa.Column('applicable', sa.Integer(), nullable=False),
    sa.Column('chapters', sa.JSON(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_readiness_snapshot_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_snapshot')),
    sa.UniqueConstraint('perimeter_id', 'taken_on', name=op.f('uq_readiness_snapshot_perimeter_id_taken_on'))
    )
    with op.batch_alter_table('readiness_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_snapshot_perimeter_id'), ['perimeter_id'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('readiness_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_snapshot_perimeter_id'))

    op.drop_table('readiness_snapshot')
