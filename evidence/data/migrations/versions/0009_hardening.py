"""hardening: initial passwords that must change and one-time set-password links, the audit chain's seals (an
HMAC under a key kept outside the database), and need-to-know readers of classified evidence;
who last changed what an evidence's review vouches for (four eyes)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Existing accounts keep their passwords (none is forced to change); existing audit events are sealed right after the
upgrade, in its transaction, once their chain is found intact (database.migrate, audit.seal_earlier); existing evidence names no readers.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('password_changed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        'password_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_password_token_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_token')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_password_token_token_hash')),
    )
    with op.batch_alter_table('password_token') as batch_op:
        batch_op.create_index(batch_op.f('ix_password_token_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('audit_event') as batch_op:
        batch_op.add_column(sa.Column('seal', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table('audit_head') as batch_op:
        batch_op.add_column(sa.Column('seal', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.add_column(sa.Column('reader_roles', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('editor_ids', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table(
        'evidence_reader',
        sa.Column('evidence_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_reader_evidence_id_evidence'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_evidence_reader_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('evidence_id', 'user_id', name=op.f('pk_evidence_reader')),
    )
    with op.batch_alter_table('evidence_reader') as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_reader_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('evidence_reader')
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.drop_column('editor_ids')
        batch_op.drop_column('reader_roles')
    with op.batch_alter_table('audit_head') as batch_op:
        batch_op.drop_column('seal')
    with op.batch_alter_table('audit_event') as batch_op:
        batch_op.drop_column('seal')
    op.drop_table('password_token')
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('must_change_password')
