"""security_keys: the security keys and passkeys (WebAuthn credentials) users register as a second factor

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

No existing account has a key: the table starts empty.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'security_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('credential_id', sqlmodel.sql.sqltypes.AutoString(length=1400), nullable=False),
        sa.Column('public_key', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column('sign_count', sa.BigInteger(), nullable=False),
        sa.Column('transports', sa.JSON(), nullable=False),
        sa.Column('aaguid', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_security_key_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_key')),
        sa.UniqueConstraint('credential_id', name=op.f('uq_security_key_credential_id')),
        sa.UniqueConstraint('user_id', 'name', name=op.f('uq_security_key_user_id_name')),
    )
    with op.batch_alter_table('security_key') as batch_op:
        batch_op.create_index(batch_op.f('ix_security_key_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('security_key')
