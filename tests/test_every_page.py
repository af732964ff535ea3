"""Every page, for every role, in both languages, on the demo: no server error, no raw internal code, no sentence
left in the other language.

One demo instance for the module (SQLite). For each role and language the app is crawled from "/" by following
the same-site GET links the pages offer (at most URLS_PER_ENDPOINT addresses per endpoint, downloads and exports
left out), so a page added later is visited as soon as a page links to it: the test knows no list of pages.
The text checked is what a reader sees: the text of the document without <script>/<style>, tags and attributes
(button, option and chart texts included).
"""
from __future__ import annotations

import re
import shutil
from collections import defaultdict, deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po

from evidence.core import vocabulary
from evidence.data import database as db
from tests.conftest import DEMO_DAY, DEMO_DOMAIN, DEMO_EVALUATOR, PG_URL, fresh_database, login, make_app

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "evidence" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
URLS_PER_ENDPOINT = 1  # a second address of the same page costs time and has found nothing the first did not
# A demo person of each role: they own controls, evidence and actions, so their pages are full.
PEOPLE = {
    "admin": f"julien.moreau@{DEMO_DOMAIN}",
    "manager": f"claire.fontaine@{DEMO_DOMAIN}",
    "contributor": f"sophie.lambert@{DEMO_DOMAIN}",
    "auditor": f"helene.dubois@{DEMO_DOMAIN}",
    "evaluator": DEMO_EVALUATOR,  # the evaluation centre's: iaas-fr1 only
}
# Endpoints whose answer is a file or that end the session: not pages.
NOT_PAGES = re.compile(r"(^static$|download|export|matrix|bundle|healthz|logout|\.pdf$)")

# --- the words that must never be shown -------------------------------------------------------------------


def vocabulary_codes() -> set[str]:
    """Every value of the product's enumerations (evidence.core.vocabulary)."""
    codes = set()
    for name in dir(vocabulary):
        value = getattr(vocabulary, name)
        if name.isupper() and isinstance(value, tuple):
            codes |= {v for v in value if isinstance(v, str)}
        elif name.isupper() and isinstance(value, str):
            codes.add(value)
    return codes


# Codes that are also plain French (or proper) words: a French page may say them.
FRENCH_HOMOGRAPHS = {
    "exigence", "recommandation", "observation", "configuration", "attestation", "public", "direct", "administration",
    "supervision", "applicable", "technique", "architecture", "IaaS", "CaaS", "PaaS", "SaaS", "en", "condition",
    "surveillance",  # the phase's code, and the French word of « Audit de surveillance » (a campaign's kind)
}
CODES = vocabulary_codes()
# Shown raw, these are internal in any language: snake_case values and role codes.
ALWAYS_RAW = {c for c in CODES if "_" in c} | set(vocabulary.ROLES)
# In a French page, an English-looking code ("draft", "expired", "fr") is a word that escaped translation too.
FRENCH_RAW = ALWAYS_RAW | {c for c in CODES if re.fullmatch(r"[a-z]+", c) and c not in FRENCH_HOMOGRAPHS} | {
    "expiring", "valid", "expired", "missing", "Bytes", "bytes", "kB", "MB", "GB"}
# English words that are role codes too: English text may use them as words ("the auditor reads"); the role chip
# and the user list say "Auditor" / "Manager".
ENGLISH_WORDS = {"auditor", "manager", "contributor", "evaluator"}
TOKEN = re.compile(r"[\w’'.@/:#%+-]+")


def raw_codes(text: str, language: str, content: str = "") -> list[str]:
    """The tokens of the text that are internal codes. A token that holds a dot, an @, a slash, a hyphen or a
    digit is a ref, a file name, an address or a code of the perimeter (CTL-IAM-01, iaas-fr1, x@y.example): the
    allow-list of refs and proper names, by their shape. A word that is the team's own (`content`, e.g. "open
    source" in a description) is not a code either."""
    forbidden = FRENCH_RAW if language == "fr" else ALWAYS_RAW - ENGLISH_WORDS
    found = []
    for m in TOKEN.finditer(text):
        word = m.group().strip(".:'’")
        if not word or re.search(r"[.@/#\d-]", word):
            continue
        if word in forbidden and not in_content(text, m.start(), m.end(), content):
            found.append(word)
    return found


def in_content(text: str, start: int, end: int, content: str) -> bool:
    """Whether text[start:end], with the word before or the word after it, is written in the team's content: then
    it is their words (an evidence title, a requirement's text), not the interface's."""
    if not content:
        return False
    space = text.rfind(" ", 0, start - 1) if start > 1 else -1  # the space before the word before
    before = space + 1
    space = text.find(" ", end + 1)  # the space after the word after
    after = space if space >= 0 else len(text)
    return text[before:end] in content or text[start:after] in content


def normalise(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|%%")


def fragments(message: str) -> list[str]:
    """The literal pieces of a catalogue message between its placeholders, long enough to be a sentence's part
    (two words at least): a piece found in a page is that message shown."""
    pieces = [normalise(p).strip(" :;,.()«»") for p in PLACEHOLDER.split(message)]
    return [p for p in pieces if len(p.split()) >= 2 and len(p) >= 8]


def catalogue_sentences() -> tuple[list[str], list[str]]:
    """(French sentences, English sentences) of the catalogue whose translation differs from the source."""
    with CATALOGUE.open("rb") as fh:
        catalogue = read_po(fh)
    french, english = set(), set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for source, translation in zip(ids, strings):
            if translation and source != translation:
                french |= set(fragments(source))
                english |= set(fragments(translation))
    # A piece shared by both languages ("SecNumCloud 3.2") is no sign of either.
    return sorted(french - english), sorted(english - french)


class VisibleText(HTMLParser):
    """The text a reader sees: no script or style, no tags, no attributes."""

    HIDDEN = {"script", "style", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.hidden, self.links = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        self.parts.append(" ")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def read_page(html: str) -> tuple[str, list[str]]:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return normalise("".join(parser.parts)), parser.links


def in_other_language(text: str, sentences: list[str], content: str = "") -> list[str]:
    found = []
    for sentence in sentences:
        start = text.find(sentence)
        if start >= 0 and not in_content(text, start, start + len(sentence), content):
            found.append(sentence)
    return found


# Tables whose text is the app's own record (codes, snapshots), not words the team wrote.
NOT_CONTENT = {"audit_event", "audit_head", "login_failure", "readiness_snapshot", "dossier"}


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def team_content(app) -> str:
    """Every text the team (or the catalogue) wrote, one NUL between two values so that no window spans two."""
    from sqlmodel import SQLModel

    values = []
    with db.get_engine(app).connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in NOT_CONTENT:
                continue
            for row in conn.execute(table.select()):
                values += [normalise(v) for v in strings(list(row)) if v not in CODES]
    return "\x00".join(values)


# --- the demo instance --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory, seeded_templates):
    template = seeded_templates.get("sqlite", ("catalogue", "users", "demo"))
    folder = tmp_path_factory.mktemp("every-page")
    template.copy_instance(folder / "instance")
    shutil.copyfile(template.sqlite_path, folder / "evidence.db")
    # The demo's day: its campaign runs then, so that its evaluator reads its perimeter.
    app = make_app(folder / "instance", f"sqlite:///{folder / 'evidence.db'}", TODAY=DEMO_DAY)
    with app.app_context(), db.session_scope(app) as session:
        rendered_dossiers(session)
    yield app
    db.get_engine(app).dispose()


def rendered_dossiers(session) -> None:
    """Two dossier versions, in each language, as if rendered (their pages, not their PDFs, are under test:
    laying out a whole dossier would take longer than the crawl)."""
    from evidence.dossier import generate
    from evidence.services.perimeters import get_perimeter

    perimeter = get_perimeter(session, "iaas-fr1")
    for number, language in enumerate(("fr", "en"), start=1):
        dossier = generate.queue(session, "cli:test", perimeter, language, False, "", DEMO_DAY, organisation="Demo")
        dossier.status, dossier.sha256, dossier.size, dossier.storage_key = "draft", "0" * 64, 1_234_567 * number, "none"
        session.add(dossier)
    session.commit()


@pytest.fixture(scope="module")
def sentences():
    return catalogue_sentences()


@pytest.fixture(scope="module")
def content(demo_app):
    return team_content(demo_app)


def switch_locale(client, language: str) -> None:
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert client.post(f"/locale/{language}", data={"csrf_token": token, "next": "/"}).status_code == 302


def endpoint_of(app, url: str):
    try:
        endpoint, _args = app.url_map.bind("localhost").match(urlsplit(url).path, method="GET")
    except Exception:  # a 404 or a method not allowed: the crawl asks anyway and reports a 5xx only
        return None
    return endpoint


def crawl(app, client):
    """(url, status, html) of the pages reached from "/" by same-site GET links."""
    seen_urls, per_endpoint = set(), defaultdict(int)
    queue = deque(["/"])
    while queue:
        url = queue.popleft()
        if url in seen_urls:
            continue
        seen_urls.add(url)
        endpoint = endpoint_of(app, url)
        if endpoint is None or NOT_PAGES.search(endpoint) or per_endpoint[endpoint] >= URLS_PER_ENDPOINT:
            continue
        per_endpoint[endpoint] += 1
        response = client.get(url)
        html = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        yield url, response.status_code, html
        if not html:
            continue
        _text, links = read_page(html)
        for href in links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
                continue  # another site
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if local not in seen_urls:
                queue.append(local)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("role", ["admin", "manager", "contributor", "auditor", "evaluator"])
def test_every_page_speaks_the_readers_language(demo_app, sentences, content, role, language):
    client = demo_app.test_client()
    assert login(client, PEOPLE[role]).status_code == 302
    switch_locale(client, language)
    french, english = sentences
    other = french if language == "en" else english
    problems, visited = [], 0
    for url, status, html in crawl(demo_app, client):
        visited += 1
        if status >= 500:
            problems.append(f"{url}: HTTP {status}")
            continue
        if not html:
            continue
        text, _links = read_page(html)
        codes = raw_codes(text, language, content)
        if codes:
            problems.append(f"{url}: raw codes {sorted(set(codes))}")
        foreign = in_other_language(text, other, content)
        if foreign:
            problems.append(f"{url}: {'French' if language == 'en' else 'English'} text {foreign[:8]}")
    assert visited > 10, f"the crawl reached {visited} pages only"
    assert not problems, f"as {role}, in {language}:\n" + "\n".join(problems)


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["admin", "auditor", "evaluator"])  # the evaluator: every page's reach queries
def test_every_page_answers_on_postgresql(seeded_templates, tmp_path, role):
    """The same crawl on PostgreSQL, for the pages' queries (the page and form tests run on SQLite only, see
    conftest's `sqlite_only`): no page fails. The words were checked above; the database changes none of them."""
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set EVIDENCE_TEST_DATABASE_URL (.ci/run does)")
    template = seeded_templates.get("postgresql", ("catalogue", "users", "demo"))
    template.copy_instance(tmp_path / "instance")
    database = fresh_database("postgresql", tmp_path, pg_template=template.pg_name)
    app = make_app(tmp_path / "instance", next(database), TODAY=DEMO_DAY)
    try:
        with app.app_context(), db.session_scope(app) as session:
            rendered_dossiers(session)
        client = app.test_client()
        assert login(client, PEOPLE[role]).status_code == 302
        answered = [(url, status) for url, status, _html in crawl(app, client)]
        assert len(answered) > 10, f"the crawl reached {len(answered)} pages only"
        assert [(url, status) for url, status in answered if status >= 500] == []
    finally:
        db.get_engine(app).dispose()
        next(database, None)


def test_the_checks_see_a_raw_code_and_a_sentence_in_the_other_language(sentences):
    """The checks above can fail: a status left raw, a French sentence in English, an English one in French; and
    they spare refs, addresses, file names and the team's own words."""
    french, english = sentences
    text, _ = read_page("<p>État : <span class=badge>in_progress</span> draft</p><script>var x='approved'</script>"
                        "<style>.approved{}</style><button>done</button>")
    assert raw_codes(text, "fr") == ["in_progress", "draft", "done"]
    assert raw_codes(text, "en") == ["in_progress"]
    assert raw_codes("Claire Fontaine manager Se déconnecter", "fr") == ["manager"]
    assert raw_codes("CTL-IAM-01 claire.fontaine@nuage-souverain.example iaas-fr1 rapport-draft.pdf", "fr") == []
    content = normalise("Procédure d’arrivée précisant les responsables (RH, manager, équipe IAM)")
    assert raw_codes("preuve manquante : Procédure d’arrivée précisant les responsables (RH, manager, équipe IAM)",
                     "fr", content) == []
    assert in_other_language("Audit log · Journal d'audit", french) == ["Journal d'audit"]
    assert in_other_language("Journal d'audit · Audit log", english) == ["Audit log"]
    assert in_other_language("EV-0001 Journal d'audit du socle", french, "Journal d'audit du socle") == []
