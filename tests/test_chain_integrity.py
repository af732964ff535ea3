"""The chain covers the files and is sealed: a stored object pointed at another blob (its rows updated to match) is
named by `verify` against the event that recorded its file; a chain rewritten from an event with every hash
recomputed and the head updated, without the instance's key, is named at that event; a head kept outside the
instance catches a truncation below it."""
import hashlib
import hmac
import io
import json

import pytest
from sqlalchemy import text
from sqlmodel import select

from evidence.core.errors import EvidenceError
from evidence.data import audit, storage
from evidence.data import database as db
from evidence.data.models import AuditEvent, AuditHead, Dossier, utcnow
from evidence.ops.verify import verify_instance
from evidence.presentation import messages
from evidence.services import evidence as evidence_items
from tests.conftest import TEST_SECRET_KEY, make_app, seed_tiny_perimeter
from tests.test_backup import cli, source, target_url, writable  # noqa: F401  (fixtures)

SECRET = TEST_SECRET_KEY


def execute(app, sql, **params):
    with app.app_context(), db.get_engine(app).begin() as conn:
        conn.execute(text(sql), params)


def report(app, **kw):
    with app.app_context(), db.session_scope(app) as session:
        return verify_instance(session, storage.get_store(app), **kw)


def lines(problems) -> list[str]:
    return [messages.render(p, "fr") if not isinstance(p, str) else p for p in problems]


def two_files(app, users):
    """Two evidence items with a file each: EV-0001 (« original ») and EV-0002 (« forged »)."""
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        store = storage.get_store(app)
        for title, content in (("Export EDR", b"original bytes"), ("Autre", b"forged bytes, longer")):
            evidence_items.create_evidence(session, tiny.contributor, evidence_items.EvidenceData(
                title=title, kind="report", control_ids=[tiny.control.id]),
                store=store, upload=io.BytesIO(content), filename="f.csv")
    return tiny


def append(app, n):
    with app.app_context(), db.session_scope(app) as session:
        for i in range(n):
            audit.record(session, "cli:test", "test.event", object_type="thing", object_id=str(i), details={"n": i})
        session.commit()


def rewrite_from(app, seq, details):
    """What someone with the database but not the key does: change event `seq`, recompute every hash after it
    (seals left as they were), and move the head to the new last hash."""
    with app.app_context(), db.session_scope(app) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)).all()
        prev = session.exec(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1)).first() or audit.GENESIS_HASH
        for event in events:
            if event.seq == seq:
                event.details = details
            event.prev_hash = prev
            event.hash = prev = audit.event_hash(event)
            session.add(event)
        head = session.get(AuditHead, 1)
        head.hash = prev
        session.add(head)
        session.commit()


def test_a_version_pointed_at_another_blob_is_named(app, users):
    two_files(app, users)
    assert report(app).problems == []
    with app.app_context(), db.session_scope(app) as session:
        seq = session.exec(select(AuditEvent.seq).where(AuditEvent.action == "evidence.create",
                                                        AuditEvent.object_id == "EV-0001")).one()
    # The forged blob is a sound stored file: only the audit chain still knows what EV-0001 v1 was.
    execute(app, "UPDATE evidence_version SET sha256 = o.sha256, storage_key = o.storage_key, size = o.size "
                 "FROM (SELECT v.sha256, v.storage_key, v.size FROM evidence_version v JOIN evidence e "
                 "ON e.id = v.evidence_id WHERE e.ref = 'EV-0002') AS o "
                 "WHERE evidence_id = (SELECT id FROM evidence WHERE ref = 'EV-0001')")
    found = lines(report(app).evidence_problems)
    forged, original = hashlib.sha256(b"forged bytes, longer").hexdigest(), hashlib.sha256(b"original bytes").hexdigest()
    assert found == [f"EV-0001 v1 : le fichier a été remplacé : la base indique {forged} mais l’événement d’audit "
                     f"n° {seq} a enregistré {original}"]


def test_a_version_without_its_event_is_named(app, users):
    two_files(app, users)
    execute(app, "INSERT INTO evidence_version (evidence_id, number, created_at, note, sha256, size, storage_key, "
                 "media_type, original_filename) SELECT evidence_id, 2, created_at, '', sha256, size, storage_key, "
                 "media_type, 'x.csv' FROM evidence_version WHERE number = 1 AND evidence_id = "
                 "(SELECT id FROM evidence WHERE ref = 'EV-0002')")
    found = lines(report(app).evidence_problems)
    assert len(found) == 1 and found[0].startswith("EV-0002 v2 : aucun événement d’audit n’a enregistré ce fichier")


def test_a_dossier_pointed_at_another_blob_is_named(app, users):
    with app.app_context(), db.session_scope(app) as session:
        tiny = seed_tiny_perimeter(session, users)
        store = storage.get_store(app)
        rendered, forged = store.put(io.BytesIO(b"%PDF-1.7 rendered")), store.put(io.BytesIO(b"%PDF-1.7 forged!"))
        session.add(Dossier(perimeter_id=tiny.perimeter.id, number=1, status="draft", sha256=rendered.sha256,
                            size=rendered.size, storage_key=rendered.key, draft_sha256=rendered.sha256,
                            draft_storage_key=rendered.key))
        # As dossier.generate.render_stored records it.
        event = audit.record(session, None, "dossier.render", object_type="dossier", object_id="iaas-t-v1",
                             details={"sha256": rendered.sha256, "size": rendered.size, "final": False})
        session.commit()
        seq = event.seq
    assert report(app).dossier_problems == []
    execute(app, "UPDATE dossier SET sha256 = :s, draft_sha256 = :s, storage_key = :k, draft_storage_key = :k, "
                 "size = :n", s=forged.sha256, k=forged.key, n=forged.size)
    assert lines(report(app).dossier_problems) == [
        f"iaas-t v1 : PDF du projet : le fichier a été remplacé : la base indique {forged.sha256} mais l’événement "
        f"d’audit n° {seq} a enregistré {rendered.sha256}"]


def test_every_event_and_the_head_are_sealed_with_the_instance_key(app):
    append(app, 3)
    key = hmac.new(SECRET.encode(), b"evidence audit seal v1", hashlib.sha256).digest()
    with app.app_context(), db.session_scope(app) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
        head = session.get(AuditHead, 1)
    assert [e.seal for e in events] == [hmac.new(key, e.hash.encode(), hashlib.sha256).hexdigest() for e in events]
    assert head.seal == hmac.new(key, f"{head.seq}:{head.hash}".encode(), hashlib.sha256).hexdigest()
    checked = report(app, files=False)
    assert checked.chain_problem is None and checked.seals_checked


def test_a_chain_rewritten_from_an_event_is_named_there(app):
    append(app, 6)
    rewrite_from(app, 3, {"n": 999})
    with app.app_context(), db.session_scope(app) as session:
        assert audit.verify_chain(session, key=None).problem is None  # the hashes alone hold: the seals catch it
        count, problem = audit.verify(session)
    assert (problem.seq, problem.problem) == (3, "unsealed")
    assert messages.render(report(app, files=False).chain_problem, "fr") == (
        "l’événement d’audit n° 3 n’est pas scellé par la clé de cette instance : la chaîne a été réécrite à partir "
        "de lui")


@pytest.mark.parametrize("first", [4, 1])  # from an event on, or every seal of the chain
def test_seals_removed_from_an_event_on_are_named_there(app, first):
    append(app, 5)
    rewrite_from(app, first, {"n": 999})
    execute(app, "UPDATE audit_event SET seal = NULL WHERE seq >= :first", first=first)
    execute(app, "UPDATE audit_head SET seal = NULL")
    with app.app_context(), db.session_scope(app) as session:
        problem = audit.verify(session)[1]
    assert (problem.seq, problem.problem) == (first, "seal_missing")


def test_the_upgrade_seals_the_events_from_before_sealing_once_their_chain_holds(app):
    append(app, 4)
    execute(app, "UPDATE audit_event SET seal = NULL WHERE seq <= 2")  # recorded before the upgrade that seals
    assert report(app, files=False).chain_problem is not None
    db.migrate(db.get_engine(app))  # `evidence init` after upgrading: seals them, the chain found intact
    assert report(app, files=False).chain_problem is None
    execute(app, "UPDATE audit_event SET seal = NULL WHERE seq = 4")  # after a sealed one: a rewrite, never sealed
    with pytest.raises(EvidenceError, match="n° 4 n’a pas de sceau"):
        db.migrate(db.get_engine(app))
    execute(app, "UPDATE audit_event SET seal = NULL")
    rewrite_from(app, 2, {"n": 999})
    execute(app, "UPDATE audit_event SET hash = :h WHERE seq = 3", h="f" * 64)  # a broken chain is not sealed
    with pytest.raises(EvidenceError, match="est rompue"):
        db.migrate(db.get_engine(app))
    with app.app_context(), db.session_scope(app) as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.seal.is_not(None))).first() is None


def test_without_the_key_the_seals_are_not_checked(app):
    append(app, 2)
    with app.app_context(), db.session_scope(app) as session:
        chain = audit.verify_chain(session, key=None)
    assert chain.problem is None and not chain.seals_checked


def test_a_kept_head_detects_a_truncation_below_it(app, runner, tmp_path):
    append(app, 3)
    with app.app_context(), db.session_scope(app) as session:
        saved = session.get(AuditHead, 1)  # an insider keeps this row's seal for later
        saved = (saved.seq, saved.hash, saved.seal)
    append(app, 3)
    kept = tmp_path / "head.json"
    result = runner.invoke(args=["verify", "--audit", "--export-head", str(kept)])
    assert result.exit_code == 0, result.output
    head = json.loads(kept.read_text())
    assert head["seq"] == 6 and head["seal"] and head["key_id"] and head["at"]
    assert runner.invoke(args=["verify", "--audit", "--head", str(kept)]).exit_code == 0
    # Cut back to the saved head: the chain and the head's seal are consistent again.
    execute(app, "DELETE FROM audit_event WHERE seq > 3")
    execute(app, "UPDATE audit_head SET seq = :q, hash = :h, seal = :s", q=saved[0], h=saved[1], s=saved[2])
    assert runner.invoke(args=["verify", "--audit"]).exit_code == 0
    result = runner.invoke(args=["verify", "--audit", "--head", str(kept)])
    assert result.exit_code == 1 and "6" in result.output
    with app.app_context(), db.session_scope(app) as session:
        problem = audit.verify_chain(session, audit.seal_key_for(session), head).problem
    assert (problem.seq, problem.problem) == (6, "not_in_chain")


def test_export_head_prints_json(app, runner):
    append(app, 2)
    result = runner.invoke(args=["verify", "--audit", "--export-head"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["seq"] == 2


def test_the_demo_verifies_against_its_audit_trail(demo_loaded):
    """Every version and dossier the demo stores was recorded by its creating event: no false alarm."""
    checked = report(demo_loaded)
    assert checked.evidence_checked and lines(checked.problems) == []


def test_a_kept_head_not_sealed_here_is_refused(app, tmp_path):
    append(app, 2)
    with app.app_context(), db.session_scope(app) as session:
        key = audit.seal_key_for(session)
        head = audit.export_head(session, key)
        assert audit.verify_chain(session, key, head).problem is None
        forged = {**head, "seal": "0" * 64}  # written by hand, or by another instance
        problem = audit.verify_chain(session, key, forged).problem
    assert (problem.seq, problem.problem) == (2, "checkpoint_unsealed")


def test_a_forced_restore_accepts_the_lost_keys_seals_before_it_only(app):
    """Disaster recovery (restore --force-unverified with a new secret key): the restored events were sealed by the
    lost key. The forced restore's own event, sealed by this instance, marks where this key's seals begin; an edited
    database cannot claim one."""
    append(app, 3)
    execute(app, "UPDATE audit_event SET seal = :s", s="e" * 64)  # what another key's seals look like from here
    with app.app_context(), db.session_scope(app) as session:
        assert audit.verify(session)[1].problem == "unsealed"
    # An unsealed claim of a forced restore (written into the database, no key) changes nothing.
    with app.app_context(), db.session_scope(app) as session:
        head = session.get(AuditHead, 1)
        event = AuditEvent(seq=4, at=utcnow(), actor="cli:root", action="instance.restore",
                           object_type="instance", details={"forced_unverified": True}, prev_hash=head.hash)
        event.hash = audit.event_hash(event)
        event.seal = "f" * 64
        head.seq, head.hash = 4, event.hash
        session.add_all([event, head])
        session.commit()
    with app.app_context(), db.session_scope(app) as session:
        assert audit.verify(session)[1].problem == "unsealed"
    execute(app, "DELETE FROM audit_event WHERE seq = 4")
    execute(app, "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_event WHERE seq = 3)")
    with app.app_context(), db.session_scope(app) as session:
        audit.record(session, "cli:root", "instance.restore", object_type="instance",
                     details={"forced_unverified": True})
        session.commit()
    checked = report(app, files=False)
    assert checked.chain_problem is None and checked.sealed_elsewhere == 3
    rewrite_from(app, 2, {"n": 999})  # the hashes before it are still checked
    assert report(app, files=False).chain_problem is not None


def test_a_restore_forced_with_a_new_key_verifies(source, tmp_path, target_url):
    """End to end: the backup's events were sealed by the old instance's key; after `restore --force-unverified`
    on an instance with another key, `verify` passes and says how many seals it could not check."""
    other = make_app(tmp_path / "other-instance", target_url, SECRET_KEY="another-secret-key-" + "y" * 32)
    try:
        assert cli(source, "backup", tmp_path / "b").exit_code == 0
        result = cli(other, "restore", tmp_path / "b", "--force-unverified")
        assert result.exit_code == 0, result.output
        result = cli(other, "verify", "--audit")
        assert result.exit_code == 0 and "before the forced restore sealed by another key" in result.output
    finally:
        db.get_engine(other).dispose()
