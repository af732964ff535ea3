"""The audit log names every action in words (the recorded code stays beside them, for the filter)."""
import ast
from pathlib import Path

import pytest

from evidence.presentation import audit_words

ROOT = Path(__file__).resolve().parents[1] / "evidence"


def recorded_actions() -> set[str]:
    """The action codes the code gives `audit.record` / `audit.record_many` as literals."""
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "record":
                if len(node.args) >= 3 and isinstance(node.args[2], ast.Constant) and isinstance(node.args[2].value, str):
                    found.add(node.args[2].value)
            # record_many's entries: (action, object type, object id, details)
            if isinstance(node, ast.Tuple) and len(node.elts) == 4 and isinstance(node.elts[0], ast.Constant) \
                    and isinstance(node.elts[0].value, str) and "." in node.elts[0].value \
                    and node.elts[0].value.split(".")[0] in audit_words.SUBJECT:
                found.add(node.elts[0].value)
    return found


def test_the_scan_finds_the_actions():
    assert {"evidence.create", "control.retire", "login", "sovereignty.site.create"} <= recorded_actions()


@pytest.mark.parametrize("code", sorted(recorded_actions() | {
    f"sovereignty.{kind}.delete" for kind in ("holder", "subcontractor", "site", "data", "operation", "link",
                                                "change", "notice")} | {
    f"evidence.{deed}" for deed in ("submit", "approve", "reject", "reopen")} | {
    f"sovereignty.{kind}.{deed}" for kind in ("holder", "subcontractor", "foreign_link", "change")
    for deed in ("create", "update")}))
def test_every_recorded_action_has_words(code):
    assert audit_words.action_words(code) != code, f"add the words of {code!r} to presentation/audit_words.py"
