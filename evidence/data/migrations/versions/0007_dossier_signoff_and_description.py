"""dossier sign-off and description: dossier versions are drafts until two people approve them (approvals,
the draft's PDF kept, the bundle manifest's hash, the signed PDF); the perimeter's structured description,
its sites' names and roles, its reference documents and architecture diagrams; the evidence's own document
version; the residual risk of an action

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A dossier rendered before this version ("done") becomes a draft: nobody approved it.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD_STATUSES = ('queued', 'rendering', 'done', 'failed')
NEW_STATUSES = ('queued', 'rendering', 'draft', 'approved', 'failed')
ROLES = ('security_policy', 'risk_assessment', 'extra_eu_law_risk', 'network_map', 'continuity_plan',
         'continuity_tests', 'audit_programme', 'passi_audit', 'service_agreement', 'architecture')
RISKS = ('', 'low', 'medium', 'high')
DESCRIPTION = ('service_offer', 'customers', 'interconnections', 'administration', 'out_of_scope')


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def _text(name, length=None):
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False, server_default='')


def _string(name, length):
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table('perimeter') as batch_op:
        for name in DESCRIPTION:
            batch_op.add_column(_text(name))
    with op.batch_alter_table('site') as batch_op:
        batch_op.add_column(_text('name', 120))
        batch_op.add_column(_text('role'))
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.add_column(_text('document_version', 40))
    with op.batch_alter_table('action') as batch_op:
        batch_op.add_column(_text('residual_risk', 10))
        batch_op.create_check_constraint(op.f('ck_action_residual_risk'), f"residual_risk IN ({_in(RISKS)})")
    with op.batch_alter_table('dossier') as batch_op:
        batch_op.drop_constraint(op.f('ck_dossier_status'), type_='check')
        batch_op.add_column(_string('draft_sha256', 64))
        batch_op.add_column(_string('draft_storage_key', 300))
        batch_op.add_column(sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(_string('manifest_sha256', 64))
        batch_op.add_column(_string('signed_sha256', 64))
        batch_op.add_column(sa.Column('signed_size', sa.Integer(), nullable=True))
        batch_op.add_column(_string('signed_storage_key', 300))
        batch_op.add_column(sa.Column('signed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(_text('signer', 300))
    op.execute(sa.text("UPDATE dossier SET status = 'draft', draft_sha256 = sha256, draft_storage_key = storage_key "
                       "WHERE status = 'done'"))
    with op.batch_alter_table('dossier') as batch_op:
        batch_op.create_check_constraint(op.f('ck_dossier_status'), f"status IN ({_in(NEW_STATUSES)})")

    op.create_table(
        'dossier_approval',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('function', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_dossier_approval_dossier_id_dossier'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_dossier_approval_user_id_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_approval')),
        sa.UniqueConstraint('dossier_id', 'function', name=op.f('uq_dossier_approval_dossier_id_function')),
        sa.UniqueConstraint('dossier_id', 'user_id', name=op.f('uq_dossier_approval_dossier_id_user_id')),
    )
    with op.batch_alter_table('dossier_approval') as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_approval_dossier_id'), ['dossier_id'], unique=False)
    op.create_table(
        'perimeter_document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('perimeter_id', sa.Integer(), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('evidence_id', sa.Integer(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('designated_by_id', sa.Integer(), nullable=True),
        sa.Column('designated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"role IN ({_in(ROLES)})", name=op.f('ck_perimeter_document_role')),
        sa.ForeignKeyConstraint(['designated_by_id'], ['user.id'], name=op.f('fk_perimeter_document_designated_by_id_user'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_perimeter_document_evidence_id_evidence'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_perimeter_document_perimeter_id_perimeter'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_perimeter_document')),
        sa.UniqueConstraint('perimeter_id', 'role', 'evidence_id', name=op.f('uq_perimeter_document_perimeter_id_role_evidence_id')),
    )
    with op.batch_alter_table('perimeter_document') as batch_op:
        batch_op.create_index(batch_op.f('ix_perimeter_document_evidence_id'), ['evidence_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_perimeter_document_perimeter_id'), ['perimeter_id'], unique=False)


def downgrade() -> None:
    op.drop_table('perimeter_document')
    op.drop_table('dossier_approval')
    with op.batch_alter_table('dossier') as batch_op:
        batch_op.drop_constraint(op.f('ck_dossier_status'), type_='check')
    op.execute(sa.text("UPDATE dossier SET status = 'done' WHERE status IN ('draft', 'approved')"))
    with op.batch_alter_table('dossier') as batch_op:
        for name in ('signer', 'signed_at', 'signed_storage_key', 'signed_size', 'signed_sha256', 'manifest_sha256',
                     'approved_at', 'draft_storage_key', 'draft_sha256'):
            batch_op.drop_column(name)
        batch_op.create_check_constraint(op.f('ck_dossier_status'), f"status IN ({_in(OLD_STATUSES)})")
    with op.batch_alter_table('action') as batch_op:
        batch_op.drop_constraint(op.f('ck_action_residual_risk'), type_='check')
        batch_op.drop_column('residual_risk')
    with op.batch_alter_table('evidence') as batch_op:
        batch_op.drop_column('document_version')
    with op.batch_alter_table('site') as batch_op:
        batch_op.drop_column('role')
        batch_op.drop_column('name')
    with op.batch_alter_table('perimeter') as batch_op:
        for name in reversed(DESCRIPTION):
            batch_op.drop_column(name)
