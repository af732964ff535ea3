"""The collector interface: the registry (built-in collectors and entry-point plugins), the tls-ssh example
collector's checks on good and bad hosts (tests/fixtures/hosts), `evidence collect run` (idempotent on the same
folder, a new version the next day), the COLLECTOR_SCHEDULE setting and its periodic task, and the API's
POST /api/v1/perimeters/{code}/collect/{collector}."""
import json
import tomllib
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from evidence import collectors, jobs
from evidence.collectors import ssh_config, tls_config
from evidence.collectors.tls_ssh import TlsSshCollector
from evidence.core.errors import EvidenceError
from evidence.core.rules.collector_schedule import ScheduledCollection, due, parse_schedule
from evidence.data import database as db
from evidence.data.models import AuditEvent, CollectionRun, Evidence, EvidenceAnswer, EvidenceVersion, User
from evidence.services.collection import configured_ttl
from evidence.settings import BY_NAME, SettingError
from tests.api_support import bearer, fingerprint, make_token
from tests.english import english, refused

# SQLite alone: collectors read files and judge configurations; what they record goes through services.collection, whose SQL runs on both databases in test_prowler.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[1]
HOSTS = Path(__file__).parent / "fixtures" / "hosts"
PROWLER = Path(__file__).parent / "fixtures" / "prowler" / "prowler-output-0b7c3f2e-20261103T101500Z.ocsf.json"
NOW = datetime(2026, 11, 3, 8, 30, tzinfo=timezone.utc)
TODAY = NOW.date()


def statuses(checks) -> dict[str, str]:
    return {check.id: check.status for check in checks}


# --- the registry --------------------------------------------------------------------------------------------------


class FakeEntryPoint:
    def __init__(self, name, value, target=None, error=None):
        self.name, self.value, self.target, self.error = name, value, target, error

    def load(self):
        if self.error:
            raise self.error
        return self.target


class Scanner:
    name = "scanner"
    label = {"fr": "Analyseur", "en": "Scanner"}
    default_ttl_days = 3
    takes = "file"
    default_source = "scan"

    def collect(self, source, options):
        return []


def plugins(monkeypatch, *points):
    monkeypatch.setattr(metadata, "entry_points", lambda group: [p for p in points if group == "evidence.collectors"])


def test_the_built_in_collectors_are_found_and_follow_the_contract():
    assert {"prowler", "tls-ssh"} <= set(collectors.names())
    for name in ("prowler", "tls-ssh"):
        collector = collectors.get(name)
        assert isinstance(collector, collectors.Collector) and collector.name == name
    assert collectors.get("tls-ssh").takes == "folder" and collectors.get("prowler").takes == "file"
    assert collectors.label(collectors.get("tls-ssh"), "en") == "TLS/SSH"


def test_pyproject_declares_the_built_ins_as_entry_points():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["evidence.collectors"]
    assert declared == collectors.BUILT_IN


def test_built_ins_do_not_depend_on_the_installed_metadata(monkeypatch):
    """A stale editable install (its metadata from before a collector) or no install at all still has them."""
    plugins(monkeypatch)
    assert collectors.names() == ["prowler", "tls-ssh"]
    assert collectors.get("tls-ssh").name == "tls-ssh"


def test_a_plugin_is_loaded_from_its_entry_point(monkeypatch):
    plugins(monkeypatch, FakeEntryPoint("scanner", "acme.scanner:Scanner", Scanner))
    assert "scanner" in collectors.names()
    scanner = collectors.get("scanner")
    assert isinstance(scanner, Scanner)
    assert configured_ttl("scanner", {}, scanner.default_ttl_days) == 3
    assert configured_ttl("scanner", {"COLLECTOR_TTL": {"scanner": 9}}, scanner.default_ttl_days) == 9
    prowler = collectors.get("prowler")  # no default of its own: COLLECTOR_TTL_DAYS, then the product's 7 days
    assert configured_ttl("prowler", {"COLLECTOR_TTL_DAYS": 5}, prowler.default_ttl_days) == 5
    assert configured_ttl("prowler", {}, prowler.default_ttl_days) == 7


def test_a_plugin_cannot_take_a_built_in_name(monkeypatch, caplog):
    plugins(monkeypatch, FakeEntryPoint("tls-ssh", "evil.module:Impostor", Scanner))
    assert isinstance(collectors.get("tls-ssh"), TlsSshCollector)
    assert collectors.names() == ["prowler", "tls-ssh"]
    assert "ignored: tls-ssh is a built-in collector" in caplog.text


@pytest.mark.parametrize("point, pattern", [
    (None, r"no collector .nope.; collectors available: prowler, tls-ssh"),
    (FakeEntryPoint("nope", "broken:X", error=ImportError("No module named 'broken'")),
     r"collector .nope. does not load: ImportError: No module named 'broken'"),
    (FakeEntryPoint("nope", "odd:X", object()), r"does not follow the collectors. contract"),
])
def test_a_missing_broken_or_odd_collector_is_refused_in_words(monkeypatch, point, pattern):
    plugins(monkeypatch, *([point] if point else []))
    with refused(EvidenceError, pattern):
        collectors.get("nope")


def test_one_run_is_one_source():
    scanner = Scanner()
    item = TlsSshCollector().collect(HOSTS / "web-01", {"now": NOW})[0]
    assert collectors.source_of(scanner, [item]) == "scan"
    with refused(EvidenceError, r"mixes several sources \(a, b\)"):
        collectors.source_of(scanner, [collectors.Collected(**{**item.__dict__, "source": s}) for s in ("a", "b")])


# --- tls-ssh: the hosts --------------------------------------------------------------------------------------------


def test_a_hardened_host_passes_every_check_and_its_report_embeds_what_was_read():
    (web,) = TlsSshCollector().collect(HOSTS / "web-01", {"now": NOW})
    assert (web.subject, web.result, web.run_at) == ("web-01", "passed", NOW)
    assert (web.counts.passed, web.counts.failed, web.counts.manual) == (16, 0, 0)
    assert web.answers == {"10.2.e": ("10.2.e#1",), "10.2.c": ("10.2.c#1",)} and web.failing == ()
    (file,) = web.files
    assert (file.name, file.media_type) == ("tls-ssh-web-01.json", "application/json")
    report = json.loads(file.read())
    assert report["checked_on"] == "2026-11-03" and report["result"] == "passed"
    read = {f["name"]: f for f in report["files"]}
    assert sorted(read) == ["nginx/conf.d/portal.conf", "nginx/nginx.conf", "sshd_config", "sshd_config.d/50-crypto.conf"]
    assert read["sshd_config"]["text"] == (HOSTS / "web-01" / "sshd_config").read_text()
    import hashlib
    assert read["nginx/nginx.conf"]["sha256"] == hashlib.sha256((HOSTS / "web-01/nginx/nginx.conf").read_bytes()).hexdigest()
    sources = {c["id"]: c["source"] for c in report["checks"]}
    assert sources["ssh.protocol"] == "[NT_SSH] version du protocole" and sources["tls.protocols"] == "[NT_TLS] §2.1"


def test_a_legacy_host_fails_what_the_guides_exclude():
    (legacy,) = TlsSshCollector().collect(HOSTS / "legacy-02", {"now": NOW})
    found = {f.check: f.status for f in legacy.failing}
    assert legacy.result == "partly" and legacy.counts.failed == 12 and legacy.counts.manual == 3
    for check in ("ssh.protocol", "ssh.permit_root_login", "ssh.ciphers", "ssh.macs", "ssh.kex", "ssh.x11_forwarding",
                  "ssh.host_keys", "ssh.permit_empty_passwords", "tls.protocols", "tls.forward_secrecy", "tls.aead",
                  "tls.weak_algorithms"):
        assert check in found, check
    assert "3des-cbc (3DES)" in found["ssh.ciphers"] and "arcfour (RC4)" in found["ssh.ciphers"]
    assert "in Match Address 10.0.0.0/8: yes" in found["ssh.permit_empty_passwords"]
    assert "TLSv1, TLSv1.1" in found["tls.protocols"] and "MinProtocol TLSv1 " in found["tls.protocols"]
    assert "RC4-SHA" in found["tls.weak_algorithms"] and "DES-CBC3-SHA" in found["tls.weak_algorithms"]
    assert found["ssh.password_authentication"].startswith("recommendation to judge")  # advice, not a failure


def test_a_folder_of_hosts_gives_one_result_per_host():
    items = TlsSshCollector().collect(HOSTS, {"now": NOW})
    assert [(i.subject, i.result) for i in items] == [("legacy-02", "partly"), ("web-01", "passed")]


def test_the_same_folder_the_same_day_is_the_same_report():
    first = TlsSshCollector().collect(HOSTS / "web-01", {"now": NOW})[0].files[0].read()
    again = TlsSshCollector().collect(HOSTS / "web-01", {"now": NOW + timedelta(hours=5)})[0].files[0].read()
    tomorrow = TlsSshCollector().collect(HOSTS / "web-01", {"now": NOW + timedelta(days=1)})[0].files[0].read()
    assert first == again and first != tomorrow


@pytest.mark.parametrize("lines, check, status", [
    ("", "ssh.protocol", "pass"),  # OpenSSH ≥ 7.4 speaks only version 2
    ("Protocol 1", "ssh.protocol", "fail"),
    ("", "ssh.permit_root_login", "pass"),  # default prohibit-password
    ("PermitRootLogin prohibit-password", "ssh.permit_root_login", "pass"),
    ("permitrootlogin=yes", "ssh.permit_root_login", "fail"),
    ("PermitRootLogin no\nPermitRootLogin yes", "ssh.permit_root_login", "pass"),  # sshd keeps the first value
    ("", "ssh.password_authentication", "advice"),  # default yes: a recommendation, judged by a person
    ("PasswordAuthentication no", "ssh.password_authentication", "pass"),
    ("", "ssh.ciphers", "fail"),  # not set: the defaults depend on the version the files do not show
    ("Ciphers +aes128-cbc", "ssh.ciphers", "fail"),
    ("Ciphers aes256-gcm@openssh.com,aes128-ctr", "ssh.ciphers", "pass"),
    ('Ciphers "aes256-ctr" # comment', "ssh.ciphers", "pass"),
    ("MACs hmac-sha2-256,umac-64@openssh.com", "ssh.macs", "fail"),
    ("KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha1", "ssh.kex", "fail"),
    ("KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256", "ssh.kex", "pass"),
    ("HostKeyAlgorithms ssh-ed25519,ssh-dss", "ssh.host_keys", "fail"),
    ("HostKey /etc/ssh/ssh_host_ecdsa_key", "ssh.host_keys", "pass"),
    ("AllowTcpForwarding local", "ssh.tcp_forwarding", "advice"),
    ("X11Forwarding no\nMatch Group admins\n  X11Forwarding yes", "ssh.x11_forwarding", "fail"),
    ("PermitUserEnvironment yes", "ssh.permit_user_environment", "fail"),
])
def test_sshd_rules(lines, check, status):
    assert statuses(ssh_config.check_sshd(ssh_config.parse_sshd("sshd_config", lines)))[check] == status


def test_sshd_include_is_read_in_place_and_kept_inside_the_host_folder(tmp_path):
    host = tmp_path / "bastion"
    (host / "sshd_config.d").mkdir(parents=True)
    (tmp_path / "outside.conf").write_text("PermitRootLogin yes\n")
    (host / "sshd_config").write_text("Include /etc/ssh/sshd_config.d/*.conf\nInclude ../outside.conf\n"
                                      "Include /etc/ssh/../../outside.conf\nPermitRootLogin yes\n")
    (host / "sshd_config.d" / "10-root.conf").write_text("PermitRootLogin no\n")
    (host / "sshd_config.d" / "20-link.conf").symlink_to(tmp_path / "outside.conf")
    (item,) = TlsSshCollector().collect(host, {"now": NOW})
    report = json.loads(item.files[0].read())
    assert [f["name"] for f in report["files"]] == ["sshd_config", "sshd_config.d/10-root.conf"]
    assert {c["id"]: c["status"] for c in report["checks"]}["ssh.permit_root_login"] == "pass"  # the drop-in came first
    assert item.answers == {"10.2.e": ("10.2.e#1",)}  # no TLS server: 10.2.c is not claimed


@pytest.mark.parametrize("nginx, check, status", [
    ("server { listen 443 ssl; ssl_certificate c.pem; }", "tls.protocols", "fail"),  # nginx's default: its version's
    ("server { listen 443 ssl; ssl_protocols TLSv1.3; }", "tls.protocols", "pass"),
    ("server { listen 443 ssl; ssl_protocols TLSv1.2 SSLv3; }", "tls.protocols", "fail"),
    ("http { ssl_protocols TLSv1.2; server { listen 443 ssl; ssl_protocols TLSv1.1 TLSv1.2; } }", "tls.protocols", "fail"),
    ("server { listen 443 ssl; ssl_ciphers HIGH:!aNULL:!MD5; }", "tls.aead", "fail"),  # CBC suites
    ("server { listen 443 ssl; ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20; }", "tls.aead", "pass"),
    ("server { listen 443 ssl; ssl_ciphers AES256-GCM-SHA384; }", "tls.forward_secrecy", "fail"),  # RSA key exchange
    ("server { listen 443 ssl; ssl_ciphers ADH-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384; }",
     "tls.forward_secrecy", "fail"),  # anonymous
    ("server { listen 443 ssl; ssl_ciphers 'ECDHE-RSA-AES128-GCM-SHA256:!RC4:!eNULL'; }", "tls.weak_algorithms", "pass"),
    ("server { listen 443 ssl; ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:RC4-MD5; }", "tls.weak_algorithms", "fail"),
    ("server { listen 443 ssl; ssl_conf_command Ciphersuites TLS_AES_128_CCM_8_SHA256; }", "tls.weak_algorithms", "fail"),
    ("server { listen 443 ssl; ssl_prefer_server_ciphers on; }", "tls.server_preference", "pass"),
    ("server { listen 443 ssl; }", "tls.server_preference", "advice"),
])
def test_nginx_rules(nginx, check, status):
    assert statuses(tls_config.check_tls(tls_config.nginx_endpoints([("nginx.conf", nginx)])))[check] == status


@pytest.mark.parametrize("text, check, status", [
    ("MinProtocol = TLSv1.2", "tls.protocols", "pass"),
    ("MinProtocol = TLSv1.1", "tls.protocols", "fail"),
    ("CipherString = DEFAULT", "tls.protocols", "fail"),  # no floor set
    ("MinProtocol = TLSv1.2\nCipherString = ECDHE+AESGCM", "tls.aead", "pass"),
    ("MinProtocol = TLSv1.2", "tls.aead", "fail"),  # OpenSSL's DEFAULT has CBC suites
    ("Options = ServerPreference", "tls.server_preference", "pass"),
])
def test_openssl_configuration_rules(text, check, status):
    endpoint = tls_config.openssl_endpoint("tls.conf", "[system_default_sect]\n" + text)
    assert statuses(tls_config.check_tls([endpoint]))[check] == status


def test_what_cannot_be_judged_is_refused_naming_it(tmp_path):
    with refused(EvidenceError, r"is not a folder"):
        TlsSshCollector().collect(tmp_path / "missing", {})
    with refused(EvidenceError, r"no host configuration"):
        TlsSshCollector().collect(tmp_path, {})
    plain = tmp_path / "www"
    (plain / "nginx").mkdir(parents=True)
    (plain / "nginx" / "nginx.conf").write_text("http { server { listen 80; } }")
    with refused(EvidenceError, r"www: neither a readable sshd_config nor a configured TLS server"):
        TlsSshCollector().collect(plain, {})
    (plain / "sshd_config").write_bytes(b"#" * (1024 * 1024 + 1))
    with refused(EvidenceError, r"sshd_config: more than 1048576 bytes"):
        TlsSshCollector().collect(plain, {})
    with refused(EvidenceError, r"tls-ssh: unknown option .depth."):
        TlsSshCollector().collect(HOSTS, {"depth": "2"})


# --- recording: the command line ---------------------------------------------------------------------------------


def make_perimeter(app, code="iaas-c1"):
    from evidence.services import perimeters

    with app.app_context(), db.session_scope(app) as session:
        manager = session.exec(select(User).where(User.email == "manager@example.org")).one()
        perimeters.create_perimeter(session, manager, perimeters.PerimeterData(
            code=code, name="Socle collecte", service_types=("IaaS",), framework_key="secnumcloud-3.2"))
    return code


def automated(app):
    with app.app_context(), db.session_scope(app) as session:
        rows = session.exec(select(Evidence).where(Evidence.collector.is_not(None)).order_by(Evidence.collector_key)).all()
        answers = {e.ref: sorted(session.exec(select(EvidenceAnswer.entry_id).where(EvidenceAnswer.evidence_id == e.id)))
                   for e in rows}
        versions = session.exec(select(func.count()).select_from(EvidenceVersion)).one()
        events = session.exec(select(func.count()).select_from(AuditEvent)).one()
        return [(e.collector_key, e.status, answers[e.ref], e.owner_id) for e in rows], versions, events


def collect_run(runner, *args):
    return runner.invoke(args=["collect", "run", *args])


def test_collect_run_records_each_host_once_and_again_only_the_next_day(catalogue_loaded, users, runner):
    app = catalogue_loaded
    app.config["TODAY"] = TODAY
    code = make_perimeter(app)
    result = collect_run(runner, "tls-ssh", "--perimeter", code, "--source", str(HOSTS), "--as", users["manager"].email)
    assert result.exit_code == 0, result.output
    assert "host-config → perimeter iaas-c1: 2 created, 0 refreshed, 0 unchanged" in result.output
    assert "legacy-02: EV-" in result.output and "ssh.ciphers" in result.output
    rows, versions, events = automated(app)
    assert [(key, status, answers) for key, status, answers, _owner in rows] == [
        ("tls-ssh:host-config:legacy-02:iaas-c1", "in_review", ["10.2.c#1", "10.2.e#1"]),
        ("tls-ssh:host-config:web-01:iaas-c1", "in_review", ["10.2.c#1", "10.2.e#1"])]
    with app.app_context(), db.session_scope(app) as session:
        runs = session.exec(select(CollectionRun).order_by(CollectionRun.subject)).all()
        assert [(r.collector, r.source, r.subject, r.result, r.ttl_days) for r in runs] == [
            ("tls-ssh", "host-config", "legacy-02", "partly", 30), ("tls-ssh", "host-config", "web-01", "passed", 30)]
        assert runs[0].run_at.date() == TODAY  # dated on the rules' today (the TODAY setting)

    again = collect_run(runner, "tls-ssh", "--perimeter", code, "--source", str(HOSTS), "--as", users["manager"].email)
    assert again.exit_code == 0 and "0 created, 0 refreshed, 2 unchanged" in again.output
    assert automated(app) == (rows, versions, events)  # nothing written, nothing audited

    app.config["TODAY"] = TODAY + timedelta(days=1)
    later = collect_run(runner, "tls-ssh", "--perimeter", code, "--source", str(HOSTS), "--as", users["manager"].email)
    assert "0 created, 2 refreshed, 0 unchanged" in later.output
    assert automated(app)[1] == versions + 2


def test_collect_run_refuses_in_words(catalogue_loaded, users, runner):
    app = catalogue_loaded
    code = make_perimeter(app)
    before = automated(app)
    unknown = collect_run(runner, "nmap", "--perimeter", code, "--source", str(HOSTS))
    assert unknown.exit_code == 1 and "no collector “nmap”; collectors available: prowler, tls-ssh" in unknown.output
    no_source = collect_run(runner, "tls-ssh", "--perimeter", code)
    assert no_source.exit_code == 1 and "give --source" in no_source.output
    wrong = collect_run(runner, "tls-ssh", "--perimeter", code, "--source", str(PROWLER))
    assert wrong.exit_code == 1 and "is not a folder" in wrong.output
    assert automated(app) == before


def test_collect_run_takes_prowler_too_and_the_scheduled_path_by_default(catalogue_loaded, users, runner):
    app = catalogue_loaded
    code = make_perimeter(app)
    app.config["COLLECTOR_SCHEDULE"] = parse_schedule(f"prowler:{code}:{PROWLER}@weekly")
    result = collect_run(runner, "prowler", "--perimeter", code, "--as", users["contributor"].email)
    assert result.exit_code == 0, result.output
    assert "secnumcloud_3.2_azure → perimeter iaas-c1: 8 created" in result.output


# --- the schedule --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("", ()),
    ("tls-ssh:iaas-fr1:/srv/hosts@daily", (ScheduledCollection("tls-ssh", "iaas-fr1", "/srv/hosts", "daily"),)),
    ("tls-ssh:iaas-fr1:/srv/hosts@daily; prowler:paas:/srv/p/out.ocsf.json@hourly\n"
     "tls-ssh:iaas-fr1:/srv/hosts@daily", (ScheduledCollection("tls-ssh", "iaas-fr1", "/srv/hosts", "daily"),
                                           ScheduledCollection("prowler", "paas", "/srv/p/out.ocsf.json", "hourly"))),
    ("tls-ssh:saas:/srv/a:b@c/hosts@weekly", (ScheduledCollection("tls-ssh", "saas", "/srv/a:b@c/hosts", "weekly"),)),
])
def test_the_schedule_setting_reads_its_entries(text, expected):
    assert BY_NAME["COLLECTOR_SCHEDULE"].parse(text) == expected


@pytest.mark.parametrize("text, pattern", [
    ("tls-ssh:iaas-fr1:/srv/hosts@monthly", r"entries ending in @hourly\|@daily\|@weekly"),
    ("tls-ssh:/srv/hosts@daily", r"entries collector:perimeter:path@cadence"),
    ("tls-ssh:iaas-fr1:srv/hosts@daily", r"whose path is absolute"),
    ("tls-ssh:a:/x@daily, nmap:a:/x@daily", r"naming known collectors \(prowler, tls-ssh\), not nmap"),
    ("tls-ssh:a:/x@daily, tls-ssh:a:/y", r": 'tls-ssh:a:/y' is not one"),
])
def test_a_bad_schedule_stops_the_app_naming_the_variable(text, pattern):
    with pytest.raises(SettingError, match="EVIDENCE_COLLECTOR_SCHEDULE must be") as caught:
        BY_NAME["COLLECTOR_SCHEDULE"].parse(text)
    assert caught.match(pattern)


def test_the_schedule_from_instance_config_is_a_list_of_entries():
    setting = BY_NAME["COLLECTOR_SCHEDULE"]
    assert setting.check(["tls-ssh:a:/x@daily"], "COLLECTOR_SCHEDULE") == (ScheduledCollection("tls-ssh", "a", "/x", "daily"),)
    with pytest.raises(SettingError):
        setting.check(42, "COLLECTOR_SCHEDULE")


@pytest.mark.parametrize("moment, expected", [
    (datetime(2026, 11, 2, 2, 0), ["hourly", "daily", "weekly"]),  # a Monday, 2 h
    (datetime(2026, 11, 3, 2, 0), ["hourly", "daily"]),
    (datetime(2026, 11, 3, 14, 0), ["hourly"]),
    (datetime(2026, 11, 3, 2, 1), []),
])
def test_which_entries_are_due(moment, expected):
    entries = [ScheduledCollection("tls-ssh", "a", "/x", cadence) for cadence in ("hourly", "daily", "weekly")]
    assert [e.cadence for e in due(entries, moment)] == expected


def test_the_periodic_task_runs_due_collections_as_the_scheduler_account(catalogue_loaded, users, caplog):
    app = catalogue_loaded
    app.config["TODAY"] = TODAY
    code = make_perimeter(app)
    app.config["COLLECTOR_SCHEDULE"] = parse_schedule(
        f"tls-ssh:no-such-perimeter:{HOSTS}@daily, tls-ssh:{code}:{HOSTS}@daily, prowler:{code}:{PROWLER}@weekly")
    jobs.init_app(app)
    assert jobs.collection_time(datetime(2026, 11, 3, 5, 0)) and not jobs.collection_time(datetime(2026, 11, 3, 5, 1))
    assert jobs.run_due_collections(app, datetime(2026, 11, 3, 3, 0)) == []  # nothing due at 3 h

    done = jobs.run_due_collections(app, datetime(2026, 11, 3, 2, 0))  # a Tuesday: the daily entries only
    assert [(str(entry), report and report.created) for entry, report in done] == [
        (f"tls-ssh:no-such-perimeter:{HOSTS}@daily", None), (f"tls-ssh:{code}:{HOSTS}@daily", 2)]
    assert "no perimeter 'no-such-perimeter'" in caplog.text  # logged; the next entry ran all the same
    with app.app_context(), db.session_scope(app) as session:
        account = session.exec(select(User).where(User.email == "scheduled-collectors@service-account.invalid")).one()
        assert (account.role, account.service_account) == ("manager", True)
        owners = {e.owner_id for e in session.exec(select(Evidence).where(Evidence.collector == "tls-ssh"))}
        assert owners == {account.id}
        created = session.exec(select(AuditEvent).where(AuditEvent.action == "user.create",
                                                        AuditEvent.object_id == account.email)).all()
        assert [e.actor for e in created] == ["system:scheduler"]

    again = jobs.run_due_collections(app, datetime(2026, 11, 3, 2, 0))  # the same hour again: nothing new
    assert [report.unchanged for _entry, report in again if report] == [2]


def test_no_schedule_no_periodic_work(app):
    jobs.init_app(app)
    assert app.config["COLLECTOR_SCHEDULE"] == ()
    assert not jobs.collection_time(datetime(2026, 11, 3, 2, 0))


# --- the API -------------------------------------------------------------------------------------------------------


def post_report(client, secret, code, collector="prowler", path=PROWLER, language="en"):
    data = {"file": (path.open("rb"), path.name)} if path else {}
    return client.post(f"/api/v1/perimeters/{code}/collect/{collector}", data=data, headers=bearer(secret, language),
                       content_type="multipart/form-data")


def test_the_api_records_an_uploaded_report_once(catalogue_loaded, users, client):
    app = catalogue_loaded
    app.config["TODAY"] = date(2026, 11, 5)
    code = make_perimeter(app)
    secret = make_token(app, "ci-prowler", "contributor")
    response = post_report(client, secret, code)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["collector"], body["source"], body["perimeter"], body["created"]) == ("prowler", "secnumcloud_3.2_azure",
                                                                                      code, 8)
    tls = next(s for s in body["subjects"] if s["subject"] == "10.2")
    assert tls["result"] == "partly" and tls["counts"]["muted"] == 1
    assert [f["muted"] for f in tls["failing"]] == [False, True]
    with app.app_context(), db.session_scope(app) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence.collect")).one()
        assert event.details["token"] == "ci-prowler"

    before = fingerprint(app)
    again = post_report(client, secret, code)
    assert again.status_code == 200 and again.get_json()["unchanged"] == 8
    assert fingerprint(app) == before


@pytest.mark.parametrize("case", ["auditor", "out_of_scope", "folder", "no_file", "json", "unknown_collector",
                                  "unknown_perimeter", "bad_file"])
def test_the_api_refuses_and_writes_nothing(catalogue_loaded, users, client, case, tmp_path):
    app = catalogue_loaded
    code = make_perimeter(app)
    make_perimeter(app, "iaas-c2")
    secret = make_token(app, "ci", "contributor", perimeters=["iaas-c2"] if case == "out_of_scope" else ())
    if case == "auditor":
        secret = make_token(app, "evaluator", "auditor")
    before = fingerprint(app)
    if case == "json":
        response = client.post(f"/api/v1/perimeters/{code}/collect/prowler", json={"file": "x"},
                               headers=bearer(secret, "en"))
    elif case == "bad_file":
        bad = tmp_path / "broken.ocsf.json"
        bad.write_text('[{"class_uid": 2004}, 12]')
        response = post_report(client, secret, code, path=bad)
    else:
        response = post_report(client, secret, "iaas-c9" if case == "unknown_perimeter" else code,
                               {"folder": "tls-ssh", "unknown_collector": "nmap"}.get(case, "prowler"),
                               path=None if case == "no_file" else PROWLER)
    expected = {"auditor": 403, "out_of_scope": 403, "folder": 422, "no_file": 422, "json": 415,
                "unknown_collector": 404, "unknown_perimeter": 404, "bad_file": 422}[case]
    assert response.status_code == expected, response.get_json()
    assert response.mimetype == "application/problem+json"
    detail = response.get_json()["detail"]
    if case == "folder":
        assert "reads a folder on the server, not an upload" in detail and "evidence collect run tls-ssh" in detail
    if case == "out_of_scope":
        assert "iaas-c1" in detail
    if case == "bad_file":
        assert "broken.ocsf.json" in detail
    assert fingerprint(app) == before


def test_english_wording_of_the_scheduler_refusal():
    from evidence.services.collector_runs import SCHEDULER_EMAIL

    error = EvidenceError("le compte %(email)s des collectes planifiées est désactivé ou n’est plus responsable "
                          "conformité : les collectes planifiées ne sont pas lancées", email=SCHEDULER_EMAIL)
    assert "scheduled collections are not run" in english(error)
