"""automated evidence: the kind `automated`, the collector that keeps such evidence up (and its unique key), and
one collection run per version (result, counts, time-to-live, the checks that did not pass)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Existing evidence is hand-made: no collector, no run.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD_KINDS = ('policy', 'procedure', 'record', 'report', 'configuration', 'screenshot', 'attestation', 'link')
NEW_KINDS = OLD_KINDS + ('automated',)
RESULTS = ('passed', 'failed', 'partly')


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.add_column(sa.Column('collector', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('collector_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_evidence_collector_key'), ['collector_key'])
        batch_op.drop_constraint(op.f('ck_evidence_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_kind'), f"kind IN ({_in(NEW_KINDS)})")
    op.create_table(
        'collection_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('evidence_version_id', sa.Integer(), nullable=False),
        sa.Column('collector', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('passed', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('muted', sa.Integer(), nullable=False),
        sa.Column('manual', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('ttl_days', sa.Integer(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"result IN ({_in(RESULTS)})", name=op.f('ck_collection_run_result')),
        sa.ForeignKeyConstraint(['evidence_version_id'], ['evidence_version.id'],
                                name=op.f('fk_collection_run_evidence_version_id_evidence_version'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_run')),
        sa.UniqueConstraint('evidence_version_id', name=op.f('uq_collection_run_evidence_version_id')),
    )


def downgrade() -> None:
    op.drop_table('collection_run')
    op.execute("UPDATE evidence SET kind = 'report' WHERE kind = 'automated'")  # the old schema has no word for it
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_evidence_kind'), f"kind IN ({_in(OLD_KINDS)})")
        batch_op.drop_constraint(batch_op.f('uq_evidence_collector_key'), type_='unique')
        batch_op.drop_column('collector_key')
        batch_op.drop_column('collector')
