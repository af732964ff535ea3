"""OSCAL interchange (NIST's Open Security Controls Assessment Language, version 1.2.1): the referential as a
catalog, a perimeter's system security plan, assessment results and plan of action and milestones, and the import of
OSCAL catalogs and mapping collections.

ids: UUIDs derived from natural keys; common: metadata, props, dates; catalog, ssp, assessment, poam: the builders
(plain dicts in OSCAL's JSON); resources: the evidence as back-matter; serialise: the bytes; documents,
import_catalog, import_mapping: reading OSCAL in. Callers use `export` and `import_oscal` below.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional

from flask_babel import force_locale
from sqlmodel import Session, select

from evidence.core.errors import N_, EvidenceError
from evidence.core.vocabulary import LOCALES
from evidence.data.models import Framework, Perimeter
from evidence.oscal import assessment, catalog, poam, ssp
from evidence.oscal.common import OSCAL_VERSION
from evidence.oscal.import_catalog import import_oscal
from evidence.oscal.serialise import dumps

MODELS = ("catalog", "ssp", "assessment-results", "poam")
BUILDERS = {"ssp": ssp.build, "assessment-results": assessment.build, "poam": poam.build}
DEFAULT_FRAMEWORK = "secnumcloud-3.2"

__all__ = ["DEFAULT_FRAMEWORK", "MODELS", "OSCAL_VERSION", "Export", "export", "import_oscal"]


@dataclass(frozen=True)
class Export:
    data: bytes
    file_name: str


def export(session: Session, model: str, *, perimeter: Optional[Perimeter] = None, framework_key: Optional[str] = None,
           organisation: str = "", lang: str = "fr", reader=None, today: date) -> Export:
    """One OSCAL document as bytes. The catalog is the perimeter's framework's (or `framework_key`'s, by default
    SecNumCloud's); the other models describe `perimeter` as `reader` may read it (None: the instance's operator)."""
    if model not in MODELS:
        raise EvidenceError(N_("modèle OSCAL « %(model)s » inconnu (attendu : l’un de %(models)s)"), model=model,
                            models=", ".join(MODELS), field="model")
    if lang not in LOCALES:
        raise EvidenceError(N_("langue « %(lang)s » inconnue (attendu : l’une de %(langs)s)"), lang=lang,
                            langs=", ".join(LOCALES), field="lang")
    suffix = "" if lang == "fr" else f"-{lang}"
    with force_locale(lang):
        if model == "catalog":
            framework = _framework(session, perimeter, framework_key)
            document = catalog.build(session, framework, organisation=organisation, lang=lang)
            return Export(dumps(document), f"{framework.key}-catalog{suffix}.json")
        if perimeter is None:
            raise EvidenceError(N_("le modèle OSCAL « %(model)s » décrit un périmètre : donnez son code"), model=model,
                                field="perimeter")
        document = BUILDERS[model](session, perimeter, organisation=organisation, lang=lang, reader=reader, today=today)
    return Export(dumps(document), f"{perimeter.code}-{model}{suffix}.json")


def _framework(session: Session, perimeter: Optional[Perimeter], key: Optional[str]) -> Framework:
    if perimeter is not None and not key:
        return session.get(Framework, perimeter.framework_id)
    key = key or DEFAULT_FRAMEWORK
    framework = session.exec(select(Framework).where(Framework.key == key)).first()
    if framework is None:
        raise EvidenceError(N_("aucun référentiel chargé ne porte la clé « %(key)s »"), key=key, field="framework")
    return framework
