"""single sign-on: the identity provider's account (issuer and subject) a user is bound to, and whether his
password still opens the account

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Existing accounts are bound to no provider (their first SSO login binds them, by verified e-mail) and keep their
password login.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('oidc_issuer', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('password_login', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.create_unique_constraint(batch_op.f('uq_user_oidc_issuer_oidc_subject'),
                                          ['oidc_issuer', 'oidc_subject'])


def downgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_oidc_issuer_oidc_subject'), type_='unique')
        batch_op.drop_column('password_login')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('oidc_issuer')
