"""What the four OSCAL documents share: the version targeted, metadata with the provider's party, props, dates,
the words the product adds (in the document's language) and the document's own UUID.

Keys are written in the order OSCAL's models list them, so that a reader of the JSON finds them where the OSCAL
reference puts them; lists come in a fixed order (the referential's, or sorted by natural key).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timezone
from typing import Iterable, Optional

from flask_babel import lazy_gettext as _l

import evidence.oscal.ids as ids

# The OSCAL version the documents are written against: the one compliance-trestle 5.2 models
# (trestle.oscal.OSCAL_VERSION, checked by the tests).
OSCAL_VERSION = "1.2.1"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # a document whose data carries no date at all

ROLE_TITLES = {
    "prepared-by": _l("Auteur du document"),
    "system-owner": _l("Propriétaire du système"),
    "control-owner": _l("Responsable de la mesure"),
    "action-owner": _l("Responsable de l’action"),
    "assessor": _l("Centre d’évaluation"),
}
NO_ORGANISATION = _l("Prestataire (réglage ORGANISATION non renseigné)")


# --- values ---------------------------------------------------------------------------------------------


def aware(moment: Optional[datetime]) -> Optional[datetime]:
    """A stored time as aware UTC (SQLite may hand back a naive one: the product stores UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def stamp(moment: datetime) -> str:
    """OSCAL's date-time-with-timezone, to the second, in UTC: `2026-06-15T09:30:00Z`."""
    return aware(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def day(value: date) -> str:
    """A day as OSCAL's date-time (OSCAL dates of deadlines and milestones carry a time): midnight UTC."""
    return stamp(datetime.combine(value, time(), tzinfo=timezone.utc))


def latest(moments: Iterable[Optional[datetime]]) -> datetime:
    """The last of the times a document's data carries: its `last-modified` (never the time of the export)."""
    found = [aware(m) for m in moments if m is not None]
    return max(found) if found else EPOCH


def prop(name: str, value, ns: Optional[str] = ids.NS) -> Optional[dict]:
    """A prop, or None when there is no value (OSCAL refuses an empty or space-padded value)."""
    text = " ".join(str(value).split()) if value is not None else ""
    if not text:
        return None
    return {"name": name, **({"ns": ns} if ns else {}), "value": text}


def props(*items: Optional[dict]) -> list[dict]:
    return [p for p in items if p]


def put(target: dict, key: str, value) -> dict:
    """Set `key` only when there is something to say: OSCAL lists hold at least one entry and texts are not empty."""
    if value not in (None, "", [], {}):
        target[key] = value
    return target


def text(value, fallback) -> str:
    """A free text as OSCAL markup, or the fallback (a required description must say something)."""
    value = (value or "").strip()
    return value or str(fallback)


# --- metadata ---------------------------------------------------------------------------------------------


def provider_party(organisation: str) -> dict:
    name = organisation.strip() or str(NO_ORGANISATION)
    return {"uuid": ids.derived("party", "organisation", organisation.strip()), "type": "organization", "name": name}


def organisation_party(name: str, organisation: str, what: str) -> dict:
    """Another organisation the documents name (the evaluation centre), by its name."""
    return {"uuid": ids.derived("party", what, organisation.strip(), name.strip()), "type": "organization",
            "name": name.strip()}


def person_party(user, organisation: str) -> dict:
    """Someone of the provider's team, by name and e-mail (an owner one contacts about what they own)."""
    party = {"uuid": ids.derived("party", "person", organisation.strip(), user.email.lower()), "type": "person",
             "name": user.name or user.email}
    put(party, "email-addresses", [user.email])
    return party


def roles(*role_ids: str) -> list[dict]:
    return [{"id": role, "title": str(ROLE_TITLES[role])} for role in role_ids]


def metadata(title: str, last_modified: datetime, version: str, parties: list[dict], role_ids: Iterable[str],
             responsible: dict[str, list[str]], meta_props: Iterable[Optional[dict]] = (),
             remarks: str = "") -> dict:
    """The metadata, in OSCAL's order. `responsible`: role id → party UUIDs (only roles that someone holds)."""
    data = {"title": title, "last-modified": stamp(last_modified), "version": version, "oscal-version": OSCAL_VERSION}
    put(data, "props", props(*meta_props))
    put(data, "roles", roles(*role_ids))
    unique = {party["uuid"]: party for party in parties}
    put(data, "parties", sorted(unique.values(), key=lambda p: (p["type"] != "organization", p["name"], p["uuid"])))
    put(data, "responsible-parties", [{"role-id": role, "party-uuids": sorted(set(uuids))}
                                      for role, uuids in responsible.items() if uuids])
    put(data, "remarks", remarks.strip())
    return data


def sealed(model: str, body: dict, *key) -> dict:
    """The document `{model: body}` with its UUID: derived from `key` and from the content, so that unchanged data
    gives the same UUID and any revision a new one (what OSCAL asks of a document's UUID). The content is taken
    without the metadata's dates: two instances holding the same data (loaded at other times) agree on it."""
    undated = {**body, "metadata": {k: v for k, v in body["metadata"].items() if k not in ("last-modified", "version")}}
    content = json.dumps(undated, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    digest = hashlib.sha256(content).hexdigest()
    return {model: {"uuid": ids.derived(f"{model}-document", *key, digest), **body}}
