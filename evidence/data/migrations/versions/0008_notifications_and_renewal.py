"""notifications and renewal: the inbox's stored events (a review asked, evidence approved or rejected, a finding
on one's control), the e-mail digest's opt-out and what the last digest reported, and the renewal cadence of
recurring evidence

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09

Every existing user receives the digest (they may opt out); every existing evidence item has no cadence.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

KINDS = ('review_requested', 'evidence_approved', 'evidence_rejected', 'finding_raised')
CADENCES = ('', 'monthly', 'quarterly', 'half_yearly', 'yearly')


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('digest', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('digest_sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('digest_sent_on', sa.Date(), nullable=True))
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.add_column(sa.Column('renewal', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                      server_default=''))
        batch_op.create_check_constraint(op.f('ck_evidence_renewal'), f"renewal IN ({_in(CADENCES)})")
    op.create_table(
        'notification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recipient_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('read_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(f"kind IN ({_in(KINDS)})", name=op.f('ck_notification_kind')),
        sa.ForeignKeyConstraint(['recipient_id'], ['user.id'], name=op.f('fk_notification_recipient_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    )
    with op.batch_alter_table('notification') as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_notification_recipient_unread', ['recipient_id', 'read_at'], unique=False)


def downgrade() -> None:
    op.drop_table('notification')
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.drop_constraint(op.f('ck_evidence_renewal'), type_='check')
        batch_op.drop_column('renewal')
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('digest_sent_on')
        batch_op.drop_column('digest_sent_at')
        batch_op.drop_column('digest')
