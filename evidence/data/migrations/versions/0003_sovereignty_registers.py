"""sovereignty registers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('registered_office', 'central_administration', 'principal_establishment')", name=op.f('ck_seat_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seat')),
    sa.UniqueConstraint('kind', name=op.f('uq_seat_kind'))
    )
    op.create_table('shareholder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('capital_bp', sa.Integer(), nullable=False),
    sa.Column('voting_bp', sa.Integer(), nullable=False),
    sa.Column('veto', sa.Boolean(), nullable=False),
    sa.Column('board_majority', sa.Boolean(), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('direct', 'ultimate')", name=op.f('ck_shareholder_kind')),
    sa.CheckConstraint('capital_bp BETWEEN 0 AND 10000 AND voting_bp BETWEEN 0 AND 10000', name=op.f('ck_shareholder_shares')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shareholder'))
    )
    op.create_table('subcontractor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('service', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('data_access', sa.Boolean(), nullable=False),
    sa.Column('access_justification', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('qualified', sa.Boolean(), nullable=False),
    sa.Column('contract_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subcontractor'))
    )
    op.create_table('data_location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('activity', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.CheckConstraint("activity IN ('stored', 'processed')", name=op.f('ck_data_location_activity')),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_data_location_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_location'))
    )
    with op.batch_alter_table('data_location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_location_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('operation_location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('operation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('allowed_operations', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_operation_location_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operation_location'))
    )
    with op.batch_alter_table('operation_location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operation_location_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_site_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site'))
    )
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('subcontractor_perimeter',
    sa.Column('subcontractor_id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_subcontractor_perimeter_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subcontractor_id'], ['subcontractor.id'], name=op.f('fk_subcontractor_perimeter_subcontractor_id_subcontractor'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subcontractor_id', 'perimeter_id', name=op.f('pk_subcontractor_perimeter'))
    )
    with op.batch_alter_table('subcontractor_perimeter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subcontractor_perimeter_perimeter_id'), ['perimeter_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subcontractor_perimeter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subcontractor_perimeter_perimeter_id'))

    op.drop_table('subcontractor_perimeter')
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_perimeter_id'))

    op.drop_table('site')
    with op.batch_alter_table('operation_location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operation_location_perimeter_id'))

    op.drop_table('operation_location')
    with op.batch_alter_table('data_location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_location_perimeter_id'))

    op.drop_table('data_location')
    op.drop_table('subcontractor')
    op.drop_table('shareholder')
    op.drop_table('seat')
