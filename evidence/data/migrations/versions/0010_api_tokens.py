"""api_tokens: bearer tokens of the REST API (hashed), the perimeters each is limited to, and service accounts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Existing accounts are people (service_account false); no token exists until one is created.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('service_account', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("role IN ('contributor', 'manager', 'auditor')", name=op.f('ck_api_token_role')),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_api_token_user_id_user'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_api_token_created_by_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
        sa.UniqueConstraint('name', name=op.f('uq_api_token_name')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash')),
    )
    with op.batch_alter_table('api_token') as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)
    op.create_table(
        'api_token_perimeter',
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('perimeter_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], name=op.f('fk_api_token_perimeter_token_id_api_token'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'],
                                name=op.f('fk_api_token_perimeter_perimeter_id_perimeter'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_id', 'perimeter_id', name=op.f('pk_api_token_perimeter')),
    )
    with op.batch_alter_table('api_token_perimeter') as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_perimeter_perimeter_id'), ['perimeter_id'], unique=False)


def downgrade() -> None:
    op.drop_table('api_token_perimeter')
    op.drop_table('api_token')
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('service_account')
