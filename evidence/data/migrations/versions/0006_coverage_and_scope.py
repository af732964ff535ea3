"""coverage and scope: conditions and English texts on items, expected evidence with ids, reviewed links,
evidence valid for perimeters and answering entries, waivers, approved versions, coverage words; exclusions the
referential does not allow go back to applicable

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Data steps print what they change and record it in the audit trail: nothing is dropped silently.
"""
import json

import sqlalchemy as sa
import sqlmodel
import yaml
from alembic import op
from sqlmodel import Session

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OLD_VERDICTS = ('non_compliant', 'partial', 'compliant', 'not_applicable')
NEW_VERDICTS = ('not_covered', 'partly_covered', 'covered', 'not_followed', 'followed')
COVERAGE = {'non_compliant': 'not_covered', 'partial': 'partly_covered', 'compliant': 'covered'}
RECOMMENDATION = {'non_compliant': 'not_followed', 'partial': 'not_followed', 'compliant': 'followed'}
OLD_REASONS = ('service_type', 'inherited', 'manual')
NEW_REASONS = OLD_REASONS + ('condition', 'recommendation')
SNAPSHOT_COLUMNS = (('compliant', 'covered'), ('partial', 'partly_covered'), ('non_compliant', 'not_covered'))
ASSESSED = 'secnumcloud-3.2'


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def _text_column(name):
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='')


def _json_list(value) -> list:
    """A JSON column as the driver returns it: a list (PostgreSQL), text (SQLite), or NULL (no lower layer)."""
    if value is None:
        return []
    return value if isinstance(value, list) else json.loads(value)


def _bundled_items() -> dict:
    """ref → (kind, has a condition) from the catalogue shipped with this version: which exclusions it allows."""
    from evidence.settings import resource_dir

    with open(resource_dir("controls") / "secnumcloud-3.2.yaml", encoding="utf-8") as f:
        items = yaml.safe_load(f)["items"]
    return {str(i["ref"]): (i.get("kind", "exigence"), bool(i.get("condition"))) for i in items}


def upgrade() -> None:
    with op.batch_alter_table('requirement') as batch_op:
        for name in ('summary_en', 'condition', 'condition_en'):
            batch_op.add_column(_text_column(name))
    with op.batch_alter_table('requirement_link') as batch_op:
        batch_op.add_column(_text_column('rationale'))
        batch_op.add_column(_text_column('rationale_en'))
    with op.batch_alter_table('perimeter') as batch_op:
        batch_op.add_column(sa.Column('qualification_reference', sqlmodel.sql.sqltypes.AutoString(length=100),
                                      nullable=False, server_default=''))
    with op.batch_alter_table('evidence_version') as batch_op:
        batch_op.add_column(sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_evidence_version_approved_by_id_user'), 'user', ['approved_by_id'],
                                    ['id'], ondelete='SET NULL')
    with op.batch_alter_table('readiness_snapshot') as batch_op:
        for old, new in SNAPSHOT_COLUMNS:
            batch_op.alter_column(old, new_column_name=new, existing_type=sa.Integer(), existing_nullable=False)

    op.create_table(
        'entry_waiver',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('perimeter_id', sa.Integer(), nullable=False),
        sa.Column('requirement_id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('justification', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_entry_waiver_decided_by_id_user'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_entry_waiver_perimeter_id_perimeter'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_entry_waiver_requirement_id_requirement'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_entry_waiver')),
        sa.UniqueConstraint('perimeter_id', 'requirement_id', 'entry_id', name=op.f('uq_entry_waiver_perimeter_id_requirement_id_entry_id')),
    )
    with op.batch_alter_table('entry_waiver') as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_waiver_perimeter_id'), ['perimeter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entry_waiver_requirement_id'), ['requirement_id'], unique=False)
    op.create_table(
        'evidence_perimeter',
        sa.Column('evidence_id', sa.Integer(), nullable=False),
        sa.Column('perimeter_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_perimeter_evidence_id_evidence'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['perimeter_id'], ['perimeter.id'], name=op.f('fk_evidence_perimeter_perimeter_id_perimeter'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('evidence_id', 'perimeter_id', name=op.f('pk_evidence_perimeter')),
    )
    with op.batch_alter_table('evidence_perimeter') as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_perimeter_perimeter_id'), ['perimeter_id'], unique=False)
    op.create_table(
        'evidence_answer',
        sa.Column('evidence_id', sa.Integer(), nullable=False),
        sa.Column('requirement_id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_answer_evidence_id_evidence'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_evidence_answer_requirement_id_requirement'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('evidence_id', 'requirement_id', 'entry_id', name=op.f('pk_evidence_answer')),
    )
    with op.batch_alter_table('evidence_answer') as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_answer_requirement_id'), ['requirement_id'], unique=False)

    with op.batch_alter_table('applicability') as batch_op:
        batch_op.drop_constraint(op.f('ck_applicability_reason'), type_='check')
        batch_op.create_check_constraint(op.f('ck_applicability_reason'), f"reason IN ({_in(NEW_REASONS)})")
    with op.batch_alter_table('verdict') as batch_op:
        batch_op.drop_constraint(op.f('ck_verdict_status'), type_='check')
    _migrate_data()
    with op.batch_alter_table('verdict') as batch_op:
        batch_op.create_check_constraint(op.f('ck_verdict_status'), f"status IN ({_in(NEW_VERDICTS)})")


def _migrate_data() -> None:
    from evidence.core import rules
    from evidence.data import audit

    conn = op.get_bind()
    session = Session(bind=conn)
    events = []
    say = lambda text: print(f"migration 0006: {text}")  # noqa: E731  (shown by `evidence init`)

    # Expected evidence: plain texts become entries with the id of their position (the catalogue reload that
    # follows writes the ids it keeps from then on).
    for req_id, ref, entries in conn.execute(sa.text("SELECT id, ref, expected_evidence FROM requirement")).all():
        entries = _json_list(entries)
        if entries and isinstance(entries[0], str):
            converted = [{"id": f"{ref}#{n}", "text": t, "text_en": ""} for n, t in enumerate(entries, start=1)]
            conn.execute(sa.text("UPDATE requirement SET expected_evidence = :e WHERE id = :id"),
                         {"e": json.dumps(converted, ensure_ascii=False), "id": req_id})

    # Kinds and conditions of the shipped catalogue, so that the rules below judge with them.
    framework = conn.execute(sa.text("SELECT id FROM framework WHERE key = :k"), {"k": ASSESSED}).scalar()
    bundled = _bundled_items() if framework is not None else {}
    for ref, (kind, _conditional) in bundled.items():
        conn.execute(sa.text("UPDATE requirement SET kind = :kind WHERE framework_id = :f AND ref = :ref"),
                     {"kind": kind, "f": framework, "ref": ref})

    # Verdicts speak of coverage now; a verdict "not applicable" was an exclusion by another door: it goes.
    rows = conn.execute(sa.text(
        "SELECT v.id, v.status, v.justification, r.ref, r.kind, p.code FROM verdict v "
        "JOIN requirement r ON r.id = v.requirement_id JOIN perimeter p ON p.id = v.perimeter_id")).all()
    for verdict_id, status, justification, ref, kind, code in rows:
        if status == 'not_applicable':
            conn.execute(sa.text("DELETE FROM verdict WHERE id = :id"), {"id": verdict_id})
            events.append(("verdict.clear", "perimeter", code, {
                "requirement": ref, "was": status, "justification": justification,
                "reason": "migration 0006: a verdict no longer decides applicability"}))
            say(f"{code} {ref}: verdict 'not applicable' removed (justification kept in the audit trail)")
        elif status in OLD_VERDICTS:
            new = (RECOMMENDATION if kind == 'recommandation' else COVERAGE)[status]
            conn.execute(sa.text("UPDATE verdict SET status = :s WHERE id = :id"), {"s": new, "id": verdict_id})

    # Exclusions: only conditional items and recommendations may be declared not applicable.
    rows = conn.execute(sa.text(
        "SELECT a.id, a.justification, r.ref, p.code, r.service_types, r.built_on_types, p.service_types, "
        "lower.service_types FROM applicability a JOIN requirement r ON r.id = a.requirement_id "
        "JOIN perimeter p ON p.id = a.perimeter_id LEFT JOIN perimeter lower ON lower.id = p.built_on_id "
        "WHERE a.applicable = :false AND r.framework_id = :f"),
        {"false": False, "f": framework}).all() if framework is not None else []
    for row_id, justification, ref, code, only_for, built_on, offered, lower in rows:
        kind, conditional = bundled.get(ref, ("exigence", False))
        derived = rules.derived_applicability(*(_json_list(v) for v in (only_for, built_on, offered, lower)))
        if rules.exclusion_allowed(rules.ItemNature(kind, conditional), derived):  # the rule the service applies
            continue
        conn.execute(sa.text("DELETE FROM applicability WHERE id = :id"), {"id": row_id})
        events.append(("applicability.restore", "perimeter", code, {
            "requirement": ref, "from": "not_applicable", "to": "applicable", "justification": justification,
            "reason": "SecNumCloud allows no exclusion of an unconditional requirement"}))
        say(f"{code} {ref}: back to applicable (the referential allows no exclusion); "
            f"old justification kept in the audit trail: {justification[:80]!r}")

    # Scope: evidence is valid for the perimeters of its controls; evidence with no control stays valid everywhere.
    perimeters = [p for (p,) in conn.execute(sa.text("SELECT id FROM perimeter")).all()]
    everywhere = 0
    for (evidence_id,) in conn.execute(sa.text("SELECT id FROM evidence")).all():
        scoped = [p for (p,) in conn.execute(sa.text(
            "SELECT DISTINCT cp.perimeter_id FROM evidence_control ec JOIN control_perimeter cp "
            "ON cp.control_id = ec.control_id WHERE ec.evidence_id = :e"), {"e": evidence_id}).all()]
        if not scoped:
            scoped, everywhere = perimeters, everywhere + 1
        for perimeter_id in scoped:
            conn.execute(sa.text("INSERT INTO evidence_perimeter (evidence_id, perimeter_id) VALUES (:e, :p)"),
                         {"e": evidence_id, "p": perimeter_id})
    if everywhere:
        say(f"{everywhere} piece(s) of evidence linked to no control: valid for every perimeter (edit their scope)")

    # The version an approval covered: the current one of each approved piece of evidence.
    conn.execute(sa.text(
        "UPDATE evidence_version SET approved_at = (SELECT e.reviewed_at FROM evidence e WHERE e.id = evidence_version.evidence_id), "
        "approved_by_id = (SELECT e.reviewed_by_id FROM evidence e WHERE e.id = evidence_version.evidence_id) "
        "WHERE number = (SELECT max(v.number) FROM evidence_version v WHERE v.evidence_id = evidence_version.evidence_id) "
        "AND evidence_id IN (SELECT id FROM evidence WHERE status = 'approved')"))

    if events:
        audit.record_many(session, "migration:0006", events)
        session.flush()


def downgrade() -> None:
    with op.batch_alter_table('verdict') as batch_op:
        batch_op.drop_constraint(op.f('ck_verdict_status'), type_='check')
    back = {'not_covered': 'non_compliant', 'partly_covered': 'partial', 'covered': 'compliant',
            'not_followed': 'non_compliant', 'followed': 'compliant'}
    for new, old in back.items():
        op.execute(sa.text(f"UPDATE verdict SET status = '{old}' WHERE status = '{new}'"))
    with op.batch_alter_table('verdict') as batch_op:
        batch_op.create_check_constraint(op.f('ck_verdict_status'), f"status IN ({_in(OLD_VERDICTS)})")
    op.execute(sa.text("UPDATE applicability SET reason = 'manual' WHERE reason IN ('condition', 'recommendation')"))
    with op.batch_alter_table('applicability') as batch_op:
        batch_op.drop_constraint(op.f('ck_applicability_reason'), type_='check')
        batch_op.create_check_constraint(op.f('ck_applicability_reason'), f"reason IN ({_in(OLD_REASONS)})")
    op.drop_table('evidence_answer')
    op.drop_table('evidence_perimeter')
    op.drop_table('entry_waiver')
    with op.batch_alter_table('readiness_snapshot') as batch_op:
        for old, new in SNAPSHOT_COLUMNS:
            batch_op.alter_column(new, new_column_name=old, existing_type=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table('evidence_version') as batch_op:
        batch_op.drop_constraint('fk_evidence_version_approved_by_id_user', type_='foreignkey')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('approved_at')
    with op.batch_alter_table('perimeter') as batch_op:
        batch_op.drop_column('qualification_reference')
    with op.batch_alter_table('requirement_link') as batch_op:
        batch_op.drop_column('rationale_en')
        batch_op.drop_column('rationale')
    with op.batch_alter_table('requirement') as batch_op:
        for name in ('condition_en', 'condition', 'summary_en'):
            batch_op.drop_column(name)
