"""Words for the rules' values, shared by pages, exports, the command line and the dossier.

French is the source language (and the dossier's); the English UI translates them through the catalogue.
"""
from flask_babel import lazy_gettext as _l

STATUS = {
    "compliant": _l("Conforme"),
    "partial": _l("Partiel"),
    "non_compliant": _l("Non conforme"),
    "not_applicable": _l("Non applicable"),
}
REASON = {
    "no_control": _l("aucune mesure"),
    "control_not_implemented": _l("mesure non mise en œuvre"),
    "evidence_missing": _l("preuve manquante"),
    "evidence_not_approved": _l("preuve non approuvée"),
    "evidence_expired": _l("preuve expirée"),
    "open_finding": _l("écart majeur ouvert"),
    "sovereignty_check": _l("contrôle de souveraineté en échec"),
}
EVIDENCE_STATUS = {"draft": _l("brouillon"), "in_review": _l("en revue"), "approved": _l("approuvée"), "rejected": _l("rejetée")}
APPLICABILITY = {"applicable": _l("Applicable"), "not_applicable": _l("Non applicable"), "inherited": _l("Hérité")}
SEVERITY = {"major": _l("Non-conformité majeure"), "minor": _l("Non-conformité mineure"), "observation": _l("Observation")}
FINDING_STATUS = {"open": _l("Ouvert"), "answered": _l("Répondu"), "closed": _l("Clos")}
ACTION_STATUS = {"open": _l("À faire"), "in_progress": _l("En cours"), "done": _l("Terminée"), "cancelled": _l("Abandonnée")}


def text(mapping: dict, key: str) -> str:
    return str(mapping.get(key, key))
CONTROL_STATUS = {"planned": _l("prévue"), "in_progress": _l("en cours"), "implemented": _l("en place"), "retired": _l("retirée")}
FRESHNESS = {"valid": _l("valide"), "expiring": _l("expire bientôt"), "expired": _l("expirée")}
PHASE = {
    "preparation": _l("Préparation"), "request_filed": _l("Demande déposée"), "under_evaluation": _l("En évaluation"),
    "qualified": _l("Qualifié"), "surveillance": _l("Surveillance"), "lapsed": _l("Échu"),
}
PERIMETER_DATES = {
    "request_filed_on": _l("Demande déposée le"), "evaluation_started_on": _l("Évaluation commencée le"),
    "qualified_on": _l("Qualifié le"), "qualification_expires_on": _l("Qualification valable jusqu'au"),
    "next_surveillance_on": _l("Prochain audit de surveillance"),
}
CHECK = {
    "seats": _l("Sièges dans l'Union européenne"), "shareholding": _l("Actionnariat et contrôle"),
    "subcontractors": _l("Sous-traitants hors UE"), "customer_data": _l("Données des commanditaires dans l'UE"),
    "technical_data": _l("Données techniques dans l'UE"), "administration": _l("Administration et supervision depuis l'UE"),
    "support": _l("Support hors UE limité aux opérations listées"),
}
SEAT = {"registered_office": _l("Siège statutaire"), "central_administration": _l("Administration centrale"),
        "principal_establishment": _l("Principal établissement")}
DATA_CATEGORY = {
    "customer_data": _l("Données des commanditaires"), "identities": _l("Identités"), "logs": _l("Journaux"),
    "directory": _l("Annuaire"), "certificates": _l("Certificats"), "backups": _l("Sauvegardes"),
    "network_configuration": _l("Configuration réseau et des accès"),
}
DATA_ACTIVITY = {"stored": _l("stockage"), "processed": _l("traitement")}
OPERATION = {"administration": _l("Administration"), "supervision": _l("Supervision"), "support_l1": _l("Support N1"),
             "support_l2": _l("Support N2"), "support_l3": _l("Support N3")}
