"""The command line speaks the reader's language: its refusals and import reports in French or English, chosen
by EVIDENCE_LOCALE, else by the POSIX locale variables (LC_ALL, LC_MESSAGES, LANG)."""
import pytest

from evidence.presentation.messages import command_line_locale

from .conftest import PASSWORD

# Words, forms, templates or layout, not SQL: SQLite only (see conftest.pytest_collection_modifyitems).
pytestmark = pytest.mark.sqlite_only


def invoke(runner, locale, *args):
    # click's runner puts `env` into os.environ for the command's duration: the command reads it as a shell's.
    return runner.invoke(args=list(args), env={"EVIDENCE_LOCALE": locale})


def test_a_refused_user_in_french_and_in_english(runner, users):
    french = invoke(runner, "fr", "users", "add", "pas-une-adresse", "--password", PASSWORD)
    assert french.exit_code == 1
    assert "Error: « pas-une-adresse » n’est pas une adresse e-mail valide" in french.output, french.output
    english = invoke(runner, "en", "users", "add", "pas-une-adresse", "--password", PASSWORD)
    assert english.exit_code == 1
    assert "Error: not a valid e-mail address: 'pas-une-adresse'" in english.output, english.output
    taken = invoke(runner, "fr", "users", "add", "manager@example.org", "--password", PASSWORD)
    assert taken.exit_code == 1 and "un utilisateur a déjà l’adresse e-mail « manager@example.org »" in taken.output


def test_an_import_with_a_bad_row_in_french_and_in_english(runner, users, tmp_path):
    root = tmp_path / "preuves"
    root.mkdir()
    (root / "edr.pdf").write_bytes(b"%PDF-1.7 rapport")
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,title,valid_until\nabsent.pdf,Rapport,2026-06-30\nedr.pdf,EDR,demain\n",
                        encoding="utf-8")
    args = ("import", str(manifest), "--root", str(root), "--dry-run", "--as", "manager@example.org")

    french = invoke(runner, "fr", *args)
    assert french.exit_code == 1
    assert ("ligne 2, colonne file, valeur 'absent.pdf' : aucun fichier de ce nom sous --root"
            in french.output), french.output
    assert ("ligne 3, colonne valid_until, valeur 'demain' : pas une date : écrivez AAAA-MM-JJ ou JJ/MM/AAAA"
            in french.output)
    assert "Essai à blanc de m.csv : 0 nouvelle(s) preuve(s)" in french.output and "2 erreur(s)" in french.output

    english = invoke(runner, "en", *args)
    assert english.exit_code == 1
    assert "row 2, column file, value 'absent.pdf': no such file under --root" in english.output, english.output
    assert "row 3, column valid_until, value 'demain': not a date: write YYYY-MM-DD or DD/MM/YYYY" in english.output
    assert "Dry run of m.csv: 0 new evidence" in english.output and "2 error(s); nothing written." in english.output
    assert "ligne" not in english.output


def test_a_refusal_before_any_row_in_french(runner, users, tmp_path):
    result = invoke(runner, "fr", "import", str(tmp_path / "m.ods"), "--root", str(tmp_path))
    assert result.exit_code == 1
    assert "Error: m.ods : un manifeste est un fichier .csv ou .xlsx" in result.output, result.output


@pytest.mark.parametrize("environ, locale", [
    ({"LANG": "fr_FR.UTF-8"}, "fr"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "en_GB.UTF-8"}, "en"),
    ({}, "en"),
    ({"LC_ALL": "fr_FR.UTF-8", "LANG": "C.UTF-8"}, "fr"),  # LC_ALL comes first
    ({"LC_ALL": "C", "LC_MESSAGES": "fr_FR.UTF-8"}, "en"),
    ({"LC_MESSAGES": "fr_CA.UTF-8", "LANG": "en_US.UTF-8"}, "fr"),  # LC_MESSAGES before LANG
    ({"EVIDENCE_LOCALE": "en", "LC_ALL": "fr_FR.UTF-8"}, "en"),  # EVIDENCE_LOCALE wins
    ({"EVIDENCE_LOCALE": "fr", "LANG": "C.UTF-8"}, "fr"),
    ({"EVIDENCE_LOCALE": "de", "LANG": "fr_FR.UTF-8"}, "fr"),  # a language the product lacks: the POSIX locale
])
def test_the_command_line_language_follows_the_locale_variables(environ, locale):
    assert command_line_locale(environ) == locale
