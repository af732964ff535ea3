"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    # The chain starts from the genesis hash; audit.record() only ever updates this row.
    op.bulk_insert(
        sa.table('audit_head', sa.column('id', sa.Integer), sa.column('seq', sa.Integer), sa.column('hash', sa.String)),
        [{'id': 1, 'seq': 0, 'hash': '0' * 64}],
    )
    op.create_table('framework',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('version', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('assessed', sa.Boolean(), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_framework')),
    sa.UniqueConstraint('key', name=op.f('uq_framework_key'))
    )
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure'))
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index('ix_login_failure_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_login_failure_email_at', ['email', 'at'], unique=False)

    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'manager', 'contributor', 'auditor')", name=op.f('ck_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email'))
    )
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_audit_event_actor_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_event_seq'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_event_object', ['object_type', 'object_id'], unique=False)

    op.create_table('control',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('review_cycle_days', sa.Integer(), nullable=False),
    sa.Column('last_reviewed_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("category IN ('organisational', 'physical', 'technical', 'procedural')", name=op.f('ck_control_category')),
    sa.CheckConstraint("status IN ('planned', 'in_progress', 'implemented', 'retired')", name=op.f('ck_control_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_control_owner_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control')),
    sa.UniqueConstraint('ref', name=op.f('uq_control_ref'))
    )
    with op.batch_alter_table('control', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_control_owner_id'), ['owner_id'], unique=False)

    op.create_table('evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('classification', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('review_comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('effective_date', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("classification IN ('public', 'internal', 'restricted', 'confidential')", name=op.f('ck_evidence_classification')),
    sa.CheckConstraint("kind IN ('policy', 'procedure', 'record', 'report', 'configuration', 'screenshot', 'attestation', 'link')", name=op.f('ck_evidence_kind')),
    sa.CheckConstraint("status IN ('draft', 'in_review', 'approved', 'rejected')", name=op.f('ck_evidence_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_evidence_owner_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['user.id'], name=op.f('fk_evidence_reviewed_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence')),
    sa.UniqueConstraint('ref', name=op.f('uq_evidence_ref'))
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_valid_until'), ['valid_until'], unique=False)

    op.create_table('perimeter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('service_types', sa.JSON(), nullable=False),
    sa.Column('framework_id', sa.Integer(), nullable=False),
    sa.Column('built_on_id', sa.Integer(), nullable=True),
    sa.Column('phase', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('evaluation_centre', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('request_filed_on', sa.Date(), nullable=True),
    sa.Column('evaluation_started_on', sa.Date(), nullable=True),
    sa.Column('qualified_on', sa.Date(), nullable=True),
    sa.Column('qualification_expires_on', sa.Date(), nullable=True),
    sa.Column('next_surveillance_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("phase IN ('preparation', 'request_filed', 'under_evaluation', 'qualified', 'surveillance', 'lapsed')", name=op.f('ck_perimeter_phase')),
    sa.ForeignKeyConstraint(['built_on_id'], ['perimeter.id'], name=op.f('fk_perimeter_built_on_id_perimeter'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_perimeter_framework_id_framework')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_perimeter')),
    sa.UniqueConstraint('code', name=op.f('uq_perimeter_code'))
    )
    with op.batch_alter_table('perimeter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_perimeter_framework_id'), ['framework_id'], unique=False)

    op.create_table('requirement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('framework_id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('chapter', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('section', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('title_en', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('official_text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('service_types', sa.JSON(), nullable=False),
    sa.Column('built_on_types', sa.JSON(), nullable=False),
    sa.Column('expected_evidence', sa.JSON(), nullable=False),
    sa.Column('urns', sa.JSON(), nullable=False),
    sa.Column('order', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('exigence', 'recommandation')", name=op.f('ck_requirement_kind')),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_requirement_framework_id_framework'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requirement')),
    sa.UniqueConstraint('framework_id', 'ref', name=op.f('uq_requirement_framework_id_ref'))
    )
    with op.batch_alter_table('requirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requirement_framework_id'), ['framework_id'], unique=False)

    op.create_table('section',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('framework_id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('parent_ref', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('title_en', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('order', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_section_framework_id_framework'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_section')),
    sa.UniqueConstraint('framework_id', 'ref', name=op.f('uq_section_framework_id_ref'))
    )
    with op.batch_alter_table('section', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_section_framework_id'), ['framework_id'], unique=False)

    op.create_table('action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'done', 'cancelled')", name=op.f('ck_action_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_action_owner_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_action_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action'))
    )
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('applicability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('applicable', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('justification', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("reason IN ('service_type', 'inherited', 'manual')", name=op.f('ck_applicability_reason')),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_applicability_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_applicability_requirement_id_requirement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_applicability_updated_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applicability')),
    sa.UniqueConstraint('perimeter_id', 'requirement_id', name=op.f('uq_applicability_perimeter_id_requirement_id'))
    )
    with op.batch_alter_table('applicability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applicability_perimeter_id'), ['perimeter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applicability_requirement_id'), ['requirement_id'], unique=False)

    op.create_table('control_perimeter',
    sa.Column('control_id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['control_id'], ['control.id'], name=op.f('fk_control_perimeter_control_id_control'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_control_perimeter_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('control_id', 'perimeter_id', name=op.f('pk_control_perimeter'))
    )
    with op.batch_alter_table('control_perimeter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_control_perimeter_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('control_requirement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('control_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('statement', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['control_id'], ['control.id'], name=op.f('fk_control_requirement_control_id_control'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_control_requirement_requirement_id_requirement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_requirement')),
    sa.UniqueConstraint('control_id', 'requirement_id', name=op.f('uq_control_requirement_control_id_requirement_id'))
    )
    with op.batch_alter_table('control_requirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_control_requirement_control_id'), ['control_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_control_requirement_requirement_id'), ['requirement_id'], unique=False)

    op.create_table('dossier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'rendering', 'done', 'failed')", name=op.f('ck_dossier_status')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_dossier_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_dossier_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier')),
    sa.UniqueConstraint('perimeter_id', 'number', name=op.f('uq_dossier_perimeter_id_number'))
    )
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('evidence_control',
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('control_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['control_id'], ['control.id'], name=op.f('fk_evidence_control_control_id_control'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_control_evidence_id_evidence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('evidence_id', 'control_id', name=op.f('pk_evidence_control'))
    )
    with op.batch_alter_table('evidence_control', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_control_control_id'), ['control_id'], unique=False)

    op.create_table('evidence_requirement',
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_requirement_evidence_id_evidence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_evidence_requirement_requirement_id_requirement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('evidence_id', 'requirement_id', name=op.f('pk_evidence_requirement'))
    )
    with op.batch_alter_table('evidence_requirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_requirement_requirement_id'), ['requirement_id'], unique=False)

    op.create_table('evidence_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('media_type', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('original_filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_evidence_version_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_version_evidence_id_evidence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_version')),
    sa.UniqueConstraint('evidence_id', 'number', name=op.f('uq_evidence_version_evidence_id_number'))
    )
    with op.batch_alter_table('evidence_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_version_evidence_id'), ['evidence_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_version_sha256'), ['sha256'], unique=False)

    op.create_table('finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=True),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('response', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('raised_on', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("severity IN ('major', 'minor', 'observation')", name=op.f('ck_finding_severity')),
    sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name=op.f('ck_finding_status')),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_finding_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_finding_requirement_id_requirement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding'))
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_perimeter_id'), ['perimeter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_requirement_id'), ['requirement_id'], unique=False)

    op.create_table('requirement_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('relationship', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.CheckConstraint("relationship IN ('equal', 'subset', 'superset', 'intersect')", name=op.f('ck_requirement_link_relationship')),
    sa.ForeignKeyConstraint(['source_id'], ['requirement.id'], name=op.f('fk_requirement_link_source_id_requirement'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['requirement.id'], name=op.f('fk_requirement_link_target_id_requirement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requirement_link')),
    sa.UniqueConstraint('source_id', 'target_id', name=op.f('uq_requirement_link_source_id_target_id'))
    )
    with op.batch_alter_table('requirement_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requirement_link_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_requirement_link_target_id'), ['target_id'], unique=False)

    op.create_table('verdict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('justification', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('non_compliant', 'partial', 'compliant', 'not_applicable')", name=op.f('ck_verdict_status')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_verdict_decided_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_verdict_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_verdict_requirement_id_requirement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verdict')),
    sa.UniqueConstraint('perimeter_id', 'requirement_id', name=op.f('uq_verdict_perimeter_id_requirement_id'))
    )
    with op.batch_alter_table('verdict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verdict_perimeter_id'), ['perimeter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verdict_requirement_id'), ['requirement_id'], unique=False)

    op.create_table('action_control',
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('control_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], name=op.f('fk_action_control_action_id_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['control_id'], ['control.id'], name=op.f('fk_action_control_control_id_control'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('action_id', 'control_id', name=op.f('pk_action_control'))
    )
    with op.batch_alter_table('action_control', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_control_control_id'), ['control_id'], unique=False)

    op.create_table('action_finding',
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], name=op.f('fk_action_finding_action_id_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_action_finding_finding_id_finding'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('action_id', 'finding_id', name=op.f('pk_action_finding'))
    )
    with op.batch_alter_table('action_finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_finding_finding_id'), ['finding_id'], unique=False)

    op.create_table('action_requirement',
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], name=op.f('fk_action_requirement_action_id_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_action_requirement_requirement_id_requirement'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('action_id', 'requirement_id', name=op.f('pk_action_requirement'))
    )
    with op.batch_alter_table('action_requirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_requirement_requirement_id'), ['requirement_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('action_requirement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_requirement_requirement_id'))

    op.drop_table('action_requirement')
    with op.batch_alter_table('action_finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_finding_finding_id'))

    op.drop_table('action_finding')
    with op.batch_alter_table('action_control', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_control_control_id'))

    op.drop_table('action_control')
    with op.batch_alter_table('verdict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verdict_requirement_id'))
        batch_op.drop_index(batch_op.f('ix_verdict_perimeter_id'))

    op.drop_table('verdict')
    with op.batch_alter_table('requirement_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requirement_link_target_id'))
        batch_op.drop_index(batch_op.f('ix_requirement_link_source_id'))

    op.drop_table('requirement_link')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_requirement_id'))
        batch_op.drop_index(batch_op.f('ix_finding_perimeter_id'))

    op.drop_table('finding')
    with op.batch_alter_table('evidence_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_version_sha256'))
        batch_op.drop_index(batch_op.f('ix_evidence_version_evidence_id'))

    op.drop_table('evidence_version')
    with op.batch_alter_table('evidence_requirement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_requirement_requirement_id'))

    op.drop_table('evidence_requirement')
    with op.batch_alter_table('evidence_control', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_control_control_id'))

    op.drop_table('evidence_control')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_perimeter_id'))

    op.drop_table('dossier')
    with op.batch_alter_table('control_requirement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_requirement_requirement_id'))
        batch_op.drop_index(batch_op.f('ix_control_requirement_control_id'))

    op.drop_table('control_requirement')
    with op.batch_alter_table('control_perimeter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_perimeter_perimeter_id'))

    op.drop_table('control_perimeter')
    with op.batch_alter_table('applicability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applicability_requirement_id'))
        batch_op.drop_index(batch_op.f('ix_applicability_perimeter_id'))

    op.drop_table('applicability')
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_perimeter_id'))
        batch_op.drop_index(batch_op.f('ix_action_owner_id'))

    op.drop_table('action')
    with op.batch_alter_table('section', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_section_framework_id'))

    op.drop_table('section')
    with op.batch_alter_table('requirement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requirement_framework_id'))

    op.drop_table('requirement')
    with op.batch_alter_table('perimeter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_perimeter_framework_id'))

    op.drop_table('perimeter')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_valid_until'))
        batch_op.drop_index(batch_op.f('ix_evidence_status'))
        batch_op.drop_index(batch_op.f('ix_evidence_owner_id'))

    op.drop_table('evidence')
    with op.batch_alter_table('control', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_owner_id'))

    op.drop_table('control')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_object')
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')
    op.drop_table('user')
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_email_at')
        batch_op.drop_index('ix_login_failure_address_at')

    op.drop_table('login_failure')
    op.drop_table('framework')
    op.drop_table('audit_head')
