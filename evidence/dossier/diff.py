"""What changed between two dossier versions, computed from their snapshots alone (pure: no database).

The history of each version, the web comparison page and `evidence dossier diff` all read `changes`; the words
are presentation/changes.describe's.
"""
from __future__ import annotations

from typing import Optional

# The registers a change is reported for: the chapter-19 registers of the snapshot's "sovereignty" part, then
# the perimeter's own description.
SOVEREIGNTY_REGISTERS = ("seats", "holders", "subcontractors", "sites", "data", "operations")
REGISTERS = (*SOVEREIGNTY_REGISTERS, "perimeter")
CHANGE_KINDS = ("coverage", "evidence_added", "evidence_replaced", "evidence_expired", "evidence_removed",
                "findings_opened", "findings_closed", "registers", "campaign")


def empty() -> dict:
    return {kind: [] for kind in CHANGE_KINDS}


def is_empty(changes: Optional[dict]) -> bool:
    return not changes or not any(changes.get(kind) for kind in CHANGE_KINDS)


def changes(old: Optional[dict], new: dict) -> dict:
    """What changed from snapshot `old` (None: there is no earlier version) to snapshot `new`.

    Coverage: every item whose status differs (an item new to the referential comes "from" None). Evidence, by
    ref: added, replaced by another approved version (from and to version numbers), expired (cited before, no
    longer valid on the new snapshot's day) or removed otherwise. Findings opened (new, or reopened) and closed
    (or deleted). Registers: the names of those whose rows differ."""
    result = empty()
    if old is None:
        return result
    result["coverage"] = _coverage(old.get("items") or [], new.get("items") or [])
    result.update(_evidence(old.get("evidence") or [], new.get("evidence") or [], new.get("today") or ""))
    result.update(_findings(old.get("findings") or [], new.get("findings") or []))
    result["registers"] = _registers(old, new)
    result["campaign"] = _campaign(old.get("campaign"), new.get("campaign"))
    return result


def _campaign_facts(campaign: Optional[dict]) -> Optional[dict]:
    """A campaign as a change names it (its kind, centre and dates: what the reader of the dossier knows it by)."""
    if not campaign:
        return None
    return {k: campaign.get(k) for k in ("kind", "centre", "starts_on", "ends_on")}


def _campaign(old: Optional[dict], new: Optional[dict]) -> list[dict]:
    """The campaign the dossier is for, when it changed (another campaign, or its dates or centre)."""
    before, after = _campaign_facts(old), _campaign_facts(new)
    return [] if before == after else [{"from": before, "to": after}]


def _coverage(old_items: list, new_items: list) -> list[dict]:
    before = {item["ref"]: item.get("status") for item in old_items}
    moved = [{"ref": item["ref"], "from": before.get(item["ref"]), "to": item.get("status")}
             for item in new_items if before.get(item["ref"]) != item.get("status")]
    now = {item["ref"] for item in new_items}
    # An item gone from the referential (another catalogue version) is a change too.
    moved += [{"ref": ref, "from": status, "to": None} for ref, status in before.items() if ref not in now]
    return moved


def _evidence(old_list: list, new_list: list, today: str) -> dict:
    before = {e["ref"]: e for e in old_list}
    now = {e["ref"]: e for e in new_list}
    added = [ref for ref in now if ref not in before]
    replaced = [{"ref": ref, "from": before[ref].get("version"), "to": e.get("version")}
                for ref, e in now.items() if ref in before and before[ref].get("version") != e.get("version")]
    expired, removed = [], []
    for ref, e in before.items():
        if ref in now:
            if now[ref].get("freshness") == "expired" and e.get("freshness") != "expired":
                expired.append(ref)
            continue
        valid_until = e.get("valid_until")
        # ISO dates compare as text; the snapshot's day says when the new version looked.
        (expired if valid_until and today and valid_until < today else removed).append(ref)
    return {"evidence_added": sorted(added), "evidence_replaced": sorted(replaced, key=lambda r: r["ref"]),
            "evidence_expired": sorted(expired), "evidence_removed": sorted(removed)}


def _open(finding: Optional[dict]) -> bool:
    return finding is not None and finding.get("status") != "closed"


def _findings(old_list: list, new_list: list) -> dict:
    before = {f["id"]: f for f in old_list}
    now = {f["id"]: f for f in new_list}
    opened = [f for fid, f in now.items() if _open(f) and not _open(before.get(fid))]
    closed = [f for fid, f in before.items() if _open(f) and not _open(now.get(fid))]
    # Each named with its campaign (its kind and centre), when it was raised in one.
    return {"findings_opened": [_finding(f) for f in opened], "findings_closed": [_finding(f) for f in closed]}


def _finding(finding: dict) -> dict:
    named = {"id": finding["id"], "requirement": finding.get("requirement")}
    if finding.get("campaign"):
        named["campaign"] = {k: finding["campaign"].get(k) for k in ("kind", "centre")}
    return named


def _registers(old: dict, new: dict) -> list[str]:
    changed = []
    old_regs, new_regs = old.get("sovereignty") or {}, new.get("sovereignty") or {}
    for name in SOVEREIGNTY_REGISTERS:
        if _rows_differ(old_regs.get(name) or [], new_regs.get(name) or []):
            changed.append(name)
    old_perimeter, new_perimeter = old.get("perimeter") or {}, new.get("perimeter") or {}
    # Only the fields both versions know: a field the snapshot gained since is not a change of the perimeter.
    if any(old_perimeter[key] != new_perimeter[key] for key in old_perimeter.keys() & new_perimeter.keys()):
        changed.append("perimeter")
    return changed


def _rows_differ(old_rows: list, new_rows: list) -> bool:
    """Whether a register's rows differ, on the fields both versions record (a column the snapshot gained
    since, e.g. a site's name, is not a change of the register)."""
    if len(old_rows) != len(new_rows):
        return True
    if not old_rows:
        return False
    common = set().union(*(row.keys() for row in old_rows)) & set().union(*(row.keys() for row in new_rows))
    return [{k: row.get(k) for k in common} for row in old_rows] != [{k: row.get(k) for k in common} for row in new_rows]
