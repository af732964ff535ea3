"""Refusals as translatable messages: raised with a message id and its parameters, put into words in the reader's
language where they are shown (beside the form field they name, or at the top of the page), and never built as
English (or any) text where they are raised."""
from __future__ import annotations

import ast
import html
import io
import re
from pathlib import Path

import pytest

from evidence.core.errors import N_, EvidenceError, Message
from evidence.presentation.messages import render
from evidence.services.evidence_fields import EvidenceInvalid, FieldProblem

from .conftest import csrf_token, login
from .evidence_forms import new_evidence, perimeter  # noqa: F401  (fixture)

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[1]
FIELD_ERROR = re.compile(r'<p class="field-error" id="([a-z_]+)-error">(.*?)</p>', re.S)
FLASH_ERROR = re.compile(r'<p class="flash flash-error"[^>]*>(.*?)</p>', re.S)


def field_errors(page: str) -> list[tuple[str, str]]:
    return [(name, html.unescape(text)) for name, text in FIELD_ERROR.findall(page)]


def flash_errors(page: str) -> list[str]:
    return [html.unescape(text).strip() for text in FLASH_ERROR.findall(page)]


def in_english(client):
    assert client.post("/locale/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"}).status_code == 302
    return client


# --- (1) a service's refusal in the reader's language, with its parameters -------------------------------------


def test_a_refusal_beside_its_field_is_french_on_the_web_and_english_with_the_english_ui(app, users):
    for language, expected in [
        ("fr", "un utilisateur a déjà l’adresse e-mail « manager@example.org »"),
        ("en", "a user with e-mail 'manager@example.org' already exists"),
    ]:
        client = app.test_client()
        login(client, "admin@example.org")
        if language == "en":
            in_english(client)
        response = client.post("/admin/users", data={"csrf_token": csrf_token(client, "/admin/users"),
                                                     "email": " Manager@Example.org ", "name": "Double",
                                                     "role": "contributor"})
        assert response.status_code == 200  # the form again, not the list with a new account
        assert ("email", expected) in field_errors(response.get_data(as_text=True)), language


def test_a_refusal_no_field_shows_is_flashed_in_the_reader_s_language(catalogue_loaded, users, perimeter):
    contributor = catalogue_loaded.test_client()
    login(contributor, "contributor@example.org")
    assert new_evidence(contributor, perimeter, file=(io.BytesIO(b"rapport"), "rapport.txt")).status_code == 302
    contributor.post("/evidence/EV-0001/review/submit",
                     data={"csrf_token": csrf_token(contributor, "/evidence/EV-0001"), "version": "1"})
    for language, expected in [("fr", "EV-0001 : dites pourquoi elle est rejetée"),
                               ("en", "EV-0001: say why it is rejected")]:
        manager = catalogue_loaded.test_client()
        login(manager, "manager@example.org")
        if language == "en":
            in_english(manager)
        page = manager.post("/evidence/EV-0001/review/reject", data={
            "csrf_token": csrf_token(manager, "/evidence/EV-0001"), "version": "2", "comment": " "},
            follow_redirects=True).get_data(as_text=True)
        assert expected in flash_errors(page), (language, flash_errors(page))


def test_the_command_line_and_the_web_say_the_same_refusal_each_in_its_language():
    refusal = EvidenceError(N_("%(ref)s : dites pourquoi elle est rejetée"), ref="EV-0042", field="comment")
    assert str(refusal) == "EV-0042 : dites pourquoi elle est rejetée"  # the source text, French
    assert render(refusal, "en") == "EV-0042: say why it is rejected"
    assert (refusal.message.id, refusal.message.params, refusal.field) == (
        "%(ref)s : dites pourquoi elle est rejetée", {"ref": "EV-0042"}, "comment")


def test_evidence_refused_for_several_fields_is_put_into_words_problem_by_problem():
    invalid = EvidenceInvalid([FieldProblem("title", Message(N_("une preuve doit avoir un intitulé"))),
                               FieldProblem("controls", Message(N_("la mesure %(ref)s est retirée"), ref="CTL-OLD-01"),
                                            "CTL-OLD-01")])
    assert render(invalid, "en") == "evidence needs a title; control CTL-OLD-01 is retired"
    assert "la mesure CTL-OLD-01 est retirée" in str(invalid) and invalid.field is None  # two fields: none named


# --- (2) a refusal naming a field lands beside it, the form's other values kept --------------------------------


def test_valid_until_before_the_effective_date_is_shown_beside_valid_until(catalogue_loaded, client, login_as,
                                                                         perimeter):
    login_as("manager")
    response = new_evidence(client, perimeter, title="Revue des accès T2", url="https://intranet.example/revue",
                            effective_date="2025-06-30", valid_until="2025-01-01")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page) == [("valid_until", "la date de fin de validité précède la date d’effet")]
    assert 'value="Revue des accès T2"' in page and 'value="2025-01-01"' in page  # what was typed is kept
    english = in_english(client)
    page = new_evidence(english, perimeter, title="T", url="https://intranet.example/revue",
                        effective_date="2025-06-30", valid_until="2025-01-01").get_data(as_text=True)
    assert field_errors(page) == [("valid_until", "the 'valid until' date is before the effective date")]


@pytest.mark.parametrize("with_file, url, field, words", [
    (True, "https://intranet.example/revue", "url", "donnez un fichier ou un lien, pas les deux"),
    (False, "", "file", "choisissez un fichier ou indiquez un lien"),
], ids=["both a file and a link", "neither"])
def test_a_version_is_a_file_or_a_link_and_each_wrong_choice_says_which(catalogue_loaded, client, login_as, perimeter,
                                                                       with_file, url, field, words):
    login_as("manager")
    # A new stream per run: the test client closes the one it sends.
    fields = {"url": url, **({"file": (io.BytesIO(b"rapport"), "rapport.txt")} if with_file else {})}
    response = new_evidence(client, perimeter, **fields)
    assert response.status_code == 200
    assert (field, words) in field_errors(response.get_data(as_text=True))


# --- (3) no refusal is raised as ready-made text ----------------------------------------------------------------

# Every directory of evidence/ is checked (importer, catalogue, dossier, ops and cli too).
CHECKED = ROOT / "evidence"
GETTEXT_CALLS = {"_", "_l", "gettext", "lazy_gettext", "ngettext"}
NOT_TEXT = re.compile(r"%\([a-z_]+\)[^s]")  # %(n)d: Message puts every parameter into words before formatting


def _name(node) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _trees() -> dict[Path, ast.AST]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted(CHECKED.rglob("*.py"))}


def _refusal_classes(trees) -> tuple[set[str], set[str]]:
    """(every EvidenceError subclass, those whose own __init__ takes something else than the message first)."""
    classes = {node.name: node for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    refusals, grew = {"EvidenceError"}, True
    while grew:
        found = {name for name, node in classes.items() if {_name(b) for b in node.bases} & refusals}
        grew = not found <= refusals
        refusals |= found

    def takes_other_first(item) -> bool:
        if not (isinstance(item, ast.FunctionDef) and item.name == "__init__"):
            return False
        params = [*item.args.posonlyargs, *item.args.args][1:]  # after self
        return not params or params[0].arg != "message"

    own_init = {name for name in refusals if name in classes and any(map(takes_other_first, classes[name].body))}
    return refusals, own_init


def _ready_made(arg) -> str:
    """Why a message argument is text built where it is raised ("" when it is an id or a message)."""
    if isinstance(arg, ast.JoinedStr):
        return "an f-string"
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return "a bare string (wrap it in N_)"
    if isinstance(arg, ast.BinOp):
        return "text put together with an operator"
    if isinstance(arg, ast.Call) and _name(arg.func) in GETTEXT_CALLS:
        return "text translated where it is raised (use N_: it is translated where it is shown)"
    if isinstance(arg, ast.Call) and _name(arg.func) in ("format", "join"):
        return "text put together with str.format or join"
    return ""


def test_refusals_are_raised_as_message_ids_with_parameters():
    trees = _trees()
    refusals, own_init = _refusal_classes(trees)
    assert {"UserError", "StorageError", "EvidenceInvalid", "ConflictError"} <= refusals
    problems = []
    for path, tree in trees.items():
        where = path.relative_to(ROOT)
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in refusals):
            for call in (n for n in ast.walk(cls) if isinstance(n, ast.Call)):  # super().__init__(message)
                if _name(call.func) == "__init__" and call.args and (why := _ready_made(call.args[0])):
                    problems.append(f"{where}:{call.lineno}: {cls.name}'s message is {why}")
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = _name(call.func)
            if name in refusals - own_init and call.args and (why := _ready_made(call.args[0])):
                problems.append(f"{where}:{call.lineno}: {name}(...) is given {why}")
            elif name == "N_" and not (len(call.args) == 1 and isinstance(call.args[0], ast.Constant)
                                       and isinstance(call.args[0].value, str)):
                problems.append(f"{where}:{call.lineno}: N_ takes one plain string, the message id")
            elif name == "N_" and NOT_TEXT.search(call.args[0].value):
                problems.append(f"{where}:{call.lineno}: a message's parameters are put in as text: %(name)s")
            elif name == "Message" and call.args and isinstance(call.args[0], ast.JoinedStr):
                problems.append(f"{where}:{call.lineno}: Message(...) is given an f-string")
    assert problems == [], "\n".join(problems)


def test_the_static_check_sees_what_it_forbids():
    trees = {Path("example.py"): ast.parse(
        "class Refused(EvidenceError):\n    pass\n"
        "def f(ref):\n"
        "    raise Refused(f'no item {ref}')\n"
        "    raise EvidenceError('give either a file or a link')\n"
        "    raise EvidenceError(_('Choisissez une preuve.'))\n"
        "    raise EvidenceError(N_('aucune preuve « %(ref)s »'), ref=ref)\n")}
    refusals, own_init = _refusal_classes(trees)
    assert "Refused" in refusals and "EvidenceError" not in own_init
    raised = [node.exc for node in ast.walk(trees[Path("example.py")]) if isinstance(node, ast.Raise)]
    assert [bool(_ready_made(call.args[0])) for call in raised] == [True, True, True, False]
