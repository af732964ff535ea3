"""Every message in the code and templates has its English translation, and the compiled catalogue is current."""
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
EN = ROOT / "evidence" / "translations" / "en" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("**.html", "jinja2")]
KEYWORDS = {"_": None, "_l": None, "N_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}


def source_messages() -> set[str]:
    found = set()
    for folder in ("evidence", "templates"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, METHODS, keywords=KEYWORDS, options_map={"**.html": {}}
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_is_translated_to_english():
    with open(EN / "messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string) and not m.fuzzy
    }
    missing = sorted(source_messages() - translated)
    assert missing == [], "run pybabel extract/update (see README) and translate: " + repr(missing[:5])


def test_compiled_catalogue_matches_the_po_file():
    def table(catalog):
        return {tuple(m.id) if isinstance(m.id, (list, tuple)) else m.id:
                tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string
                for m in catalog if m.id and not m.fuzzy}

    with open(EN / "messages.po", "rb") as f:
        po = table(read_po(f))
    with open(EN / "messages.mo", "rb") as f:
        mo = table(read_mo(f))
    assert mo == po, "run: pybabel compile -d evidence/translations"


@pytest.mark.sqlite_only
def test_a_request_keeps_its_translations_and_a_forced_locale_has_its_own(app):
    """The translations are found once per request and locale (evidence.extensions): a locale forced inside the
    request (the dossier, an e-mail) speaks its own language, and the request's comes back after it."""
    from flask import render_template_string
    from flask_babel import force_locale, get_translations, gettext, lazy_gettext

    label = lazy_gettext("Se déconnecter")
    page = "{{ _('Se déconnecter') }}|{{ label }}"
    with app.test_request_context("/api/v1/perimeters", headers={"Accept-Language": "en"}):
        assert gettext("Se déconnecter") == "Log out"
        assert get_translations() is get_translations()
        assert render_template_string(page, label=label) == "Log out|Log out"
        with force_locale("fr"):
            assert gettext("Se déconnecter") == "Se déconnecter"
            assert render_template_string(page, label=label) == "Se déconnecter|Se déconnecter"
            with force_locale("en"):
                assert str(label) == "Log out"
            assert str(label) == "Se déconnecter"
        assert gettext("Se déconnecter") == "Log out"
        assert render_template_string(page, label=label) == "Log out|Log out"
    with app.test_request_context("/api/v1/perimeters", headers={"Accept-Language": "fr"}):
        assert gettext("Se déconnecter") == "Se déconnecter"
