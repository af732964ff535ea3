"""the evaluation centre's workspace: the evaluator role, perimeter grants (until a day, or with a campaign),
campaigns, evidence requests and their answers, comment threads, and findings raised in place (by whom, for which
campaign, closed by whom, and the evidence versions they pin)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

Existing findings were typed in by the team: raised by no evaluator, for no campaign. Existing auditors hold no
grant, so they keep reading every perimeter.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

OLD_ROLES = ('admin', 'manager', 'contributor', 'auditor')
NEW_ROLES = OLD_ROLES + ('evaluator',)
OLD_TOKEN_ROLES = ('contributor', 'manager', 'auditor')
NEW_TOKEN_ROLES = OLD_TOKEN_ROLES + ('evaluator',)
OLD_NOTIFICATIONS = ('review_requested', 'evidence_approved', 'evidence_rejected', 'finding_raised')
NEW_NOTIFICATIONS = OLD_NOTIFICATIONS + ('request_raised', 'request_answered', 'request_reopened', 'mentioned',
                                         'finding_closed')
NEW_TABLES = ('request_evidence', 'finding_evidence', 'perimeter_grant', 'evidence_request', 'comment', 'campaign')


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def _check(table, column, values):
    with op.batch_alter_table(table) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
        batch_op.create_check_constraint(op.f(f'ck_{table}_{column}'), f"{column} IN ({_in(values)})")


def upgrade() -> None:
    _check('user', 'role', NEW_ROLES)
    _check('api_token', 'role', NEW_TOKEN_ROLES)
    _check('notification', 'kind', NEW_NOTIFICATIONS)
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('centre', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('initial', 'surveillance_1', 'surveillance_2', 'renewal')", name=op.f('ck_campaign_kind')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_campaign_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_campaign_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign'))
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('edited_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('deleted_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("subject_type IN ('requirement', 'control', 'evidence_version', 'request', 'finding')", name=op.f('ck_comment_subject_type')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_comment_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['deleted_by_id'], ['user.id'], name=op.f('fk_comment_deleted_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_comment_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment'))
    )
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.create_index('ix_comment_subject', ['perimeter_id', 'subject_type', 'subject_id'], unique=False)

    op.create_table('evidence_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('requirement_id', sa.Integer(), nullable=True),
    sa.Column('control_id', sa.Integer(), nullable=True),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('raised_by_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'answered', 'accepted', 'reopened')", name=op.f('ck_evidence_request_status')),
    sa.ForeignKeyConstraint(['assignee_id'], ['user.id'], name=op.f('fk_evidence_request_assignee_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_evidence_request_campaign_id_campaign'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['control_id'], ['control.id'], name=op.f('fk_evidence_request_control_id_control'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_evidence_request_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['raised_by_id'], ['user.id'], name=op.f('fk_evidence_request_raised_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_evidence_request_requirement_id_requirement'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_request'))
    )
    with op.batch_alter_table('evidence_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_request_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_request_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_request_control_id'), ['control_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_request_perimeter_id'), ['perimeter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_request_requirement_id'), ['requirement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_request_status'), ['status'], unique=False)

    op.create_table('perimeter_grant',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('perimeter_id', sa.Integer(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_perimeter_grant_campaign_id_campaign'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user.id'], name=op.f('fk_perimeter_grant_granted_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_perimeter_grant_perimeter_id_perimeter'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_perimeter_grant_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'perimeter_id', name=op.f('pk_perimeter_grant'))
    )
    with op.batch_alter_table('perimeter_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_perimeter_grant_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_perimeter_grant_perimeter_id'), ['perimeter_id'], unique=False)

    op.create_table('finding_evidence',
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('evidence_version_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['evidence_version_id'], ['evidence_version.id'], name=op.f('fk_finding_evidence_evidence_version_id_evidence_version'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_finding_evidence_finding_id_finding'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('finding_id', 'evidence_version_id', name=op.f('pk_finding_evidence'))
    )
    with op.batch_alter_table('finding_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_evidence_evidence_version_id'), ['evidence_version_id'], unique=False)

    op.create_table('request_evidence',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['user.id'], name=op.f('fk_request_evidence_added_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_request_evidence_evidence_id_evidence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['evidence_request.id'], name=op.f('fk_request_evidence_request_id_evidence_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'evidence_id', name=op.f('pk_request_evidence'))
    )
    with op.batch_alter_table('request_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_evidence_evidence_id'), ['evidence_id'], unique=False)

    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raised_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('campaign_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_finding_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_finding_campaign_id_campaign'), 'campaign', ['campaign_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_finding_raised_by_id_user'), 'user', ['raised_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_finding_closed_by_id_user'), 'user', ['closed_by_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('finding') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_finding_raised_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_finding_closed_by_id_user'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_finding_campaign_id_campaign'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_finding_campaign_id'))
        batch_op.drop_column('closed_by_id')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('campaign_id')
        batch_op.drop_column('raised_by_id')
    for table in NEW_TABLES:
        op.drop_table(table)
    op.execute("DELETE FROM notification WHERE kind NOT IN (%s)" % _in(OLD_NOTIFICATIONS))
    op.execute("DELETE FROM api_token WHERE role = 'evaluator'")
    op.execute("UPDATE \"user\" SET role = 'auditor', active = false WHERE role = 'evaluator'")
    _check('notification', 'kind', OLD_NOTIFICATIONS)
    _check('api_token', 'role', OLD_TOKEN_ROLES)
    _check('user', 'role', OLD_ROLES)
