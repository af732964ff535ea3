"""chapter 19 registers: third parties' control, access and autonomy (19.6.c/d), links with foreign public bodies
(19.6.e), changes and customer notices (19.6.f)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Existing third parties keep their rows: their technical-data access is left unassessed (NULL), which 19.6.c
reports for a third party outside the Union or controlled from outside it, until someone assesses it.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def subcontractor_columns() -> list[sa.Column]:
    """The columns added to subcontractor, each with the value existing rows get (fresh objects at every call: a
    column belongs to one table). The defaults are dropped once the rows are filled, so that the schema matches the
    models, which set every value themselves."""
    return [
        sa.Column('technical_data_access', sa.Boolean(), nullable=True),
        sa.Column('parent_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=''),
        sa.Column('parent_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False, server_default=''),
        sa.Column('parent_capital_bp', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('parent_voting_bp', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('largest_other_voting_bp', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('parent_agreement', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('parent_de_facto', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('parent_board_power', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('qualification_decision', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default=''),
        sa.Column('qualification_date', sa.Date(), nullable=True),
        sa.Column('own_skills', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('alternatives', sa.JSON(), nullable=False, server_default='[]'),
        sa.Column('autonomy_arrangements', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''),
    ]


PARENT_SHARES = ('parent_capital_bp BETWEEN 0 AND 10000 AND parent_voting_bp BETWEEN 0 AND 10000 '
                 'AND largest_other_voting_bp BETWEEN 0 AND 10000')


def upgrade() -> None:
    with op.batch_alter_table('subcontractor', schema=None) as batch_op:
        for column in subcontractor_columns():
            batch_op.add_column(column)
        batch_op.create_check_constraint(batch_op.f('ck_subcontractor_parent_shares'), PARENT_SHARES)
    with op.batch_alter_table('subcontractor', schema=None) as batch_op:
        for column in subcontractor_columns():
            if column.server_default is not None:
                batch_op.alter_column(column.name, existing_type=column.type, existing_nullable=False, server_default=None)

    op.create_table('foreign_public_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('nature', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('assessment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('assessed_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_foreign_public_link'))
    )
    op.create_table('foreign_link_declaration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('declared_by_id', sa.Integer(), nullable=True),
    sa.Column('declared_by', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('declared_on', sa.Date(), nullable=False),
    sa.Column('statement', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['declared_by_id'], ['user.id'], name=op.f('fk_foreign_link_declaration_declared_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_foreign_link_declaration'))
    )
    op.create_table('sovereignty_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('legal', 'organisational', 'technical')", name=op.f('ck_sovereignty_change_kind')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_sovereignty_change_recorded_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sovereignty_change'))
    )
    with op.batch_alter_table('sovereignty_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sovereignty_change_changed_on'), ['changed_on'], unique=False)

    op.create_table('sovereignty_change_perimeter',
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['sovereignty_change.id'], name=op.f('fk_sovereignty_change_perimeter_change_id_sovereignty_change'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_sovereignty_change_perimeter_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('change_id', 'perimeter_id', name=op.f('pk_sovereignty_change_perimeter'))
    )
    with op.batch_alter_table('sovereignty_change_perimeter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sovereignty_change_perimeter_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('change_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=True),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('means', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['sovereignty_change.id'], name=op.f('fk_change_notice_change_id_sovereignty_change'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_change_notice_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_notice'))
    )
    with op.batch_alter_table('change_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_notice_change_id'), ['change_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_change_notice_perimeter_id'), ['perimeter_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('change_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_notice_perimeter_id'))
        batch_op.drop_index(batch_op.f('ix_change_notice_change_id'))
    op.drop_table('change_notice')
    with op.batch_alter_table('sovereignty_change_perimeter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sovereignty_change_perimeter_perimeter_id'))
    op.drop_table('sovereignty_change_perimeter')
    with op.batch_alter_table('sovereignty_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sovereignty_change_changed_on'))
    op.drop_table('sovereignty_change')
    op.drop_table('foreign_link_declaration')
    op.drop_table('foreign_public_link')
    with op.batch_alter_table('subcontractor', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_subcontractor_parent_shares'), type_='check')
        for column in reversed(subcontractor_columns()):
            batch_op.drop_column(column.name)
