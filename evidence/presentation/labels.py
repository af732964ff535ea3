"""Words for the rules' values, shared by pages, exports, the command line and the dossier.

French is the source language (and the dossier's); the English UI translates them through the catalogue.
"""
from flask_babel import LazyString, gettext, ngettext
from flask_babel import lazy_gettext as _l

from evidence.core import rules
from evidence.presentation.typography import long_date, number

# The team's claim of coverage: "conforme" is the evaluation centre's word, not ours.
STATUS = {
    "covered": _l("Couvert"),
    "partly_covered": _l("Partiellement couvert"),
    "not_covered": _l("Non couvert"),
    "not_applicable": _l("Non applicable"),
    "followed": _l("Suivie"),
    "not_followed": _l("Non suivie"),
}
REASON = {
    "no_control": _l("aucune mesure"),
    "control_not_implemented": _l("mesure non mise en œuvre"),
    "no_statement": _l("déclaration de mise en œuvre manquante"),
    "entry_missing": _l("preuve attendue manquante"),
    "evidence_missing": _l("preuve manquante"),
    "evidence_not_approved": _l("preuve non approuvée"),
    "evidence_expired": _l("preuve expirée"),
    "open_finding": _l("écart majeur ouvert"),
    "sovereignty_check": _l("contrôle de souveraineté en échec"),
    "automated_failing": _l("contrôles automatisés en échec"),
    "automated_stale": _l("résultat automatisé expiré"),
}
KIND = {"exigence": _l("Exigence"), "recommandation": _l("Recommandation")}
# A missing piece and its place in the checklist; French puts a space before the colon, English does not.
GAP_LINE = _l("%(state)s : %(entry)s (%(id)s)")
ENTRY_STATE = {
    "answered": _l("fournie"), "waived": _l("dispensée"), "missing": _l("preuve attendue manquante"),
    "not_approved": _l("preuve attendue non approuvée"), "expired": _l("preuve attendue expirée"),
    "failing": _l("preuve attendue en échec (contrôles automatisés)"),
    "stale": _l("preuve attendue à renouveler (résultat automatisé expiré)"),
}
# Collectors by the name their makers give them (a product's name is not translated); an unnamed one as it is.
COLLECTOR = {"prowler": "Prowler", "tls-ssh": "TLS/SSH"}
APPLICABILITY_BASIS = {
    "service_type": _l("Ne s’applique qu’aux services %(types)s ; le périmètre n’en relève pas."),
    "built_on": _l("Ne s’applique qu’aux services reposant sur un socle %(types)s ; ce n’est pas le cas du périmètre."),
    "condition": _l("Condition non remplie"),
    "recommendation": _l("Recommandation non applicable"),
    "lower_layer": _l("Hérité du socle"),
}
EVIDENCE_STATUS = {"draft": _l("brouillon"), "in_review": _l("en revue"), "approved": _l("approuvée"), "rejected": _l("rejetée")}
APPLICABILITY = {"applicable": _l("Applicable"), "not_applicable": _l("Non applicable"), "inherited": _l("Hérité")}
SEVERITY = {"major": _l("Non-conformité majeure"), "minor": _l("Non-conformité mineure"), "observation": _l("Remarque")}
FINDING_STATUS = {"open": _l("Ouvert"), "answered": _l("Répondu"), "closed": _l("Clos")}
ACTION_STATUS = {"open": _l("À faire"), "in_progress": _l("En cours"), "done": _l("Terminée"), "cancelled": _l("Abandonnée")}


def text(mapping: dict, key: str) -> str:
    return str(mapping.get(key, key))


def basis(applicability) -> str:
    """Why an item is not applicable or inherited, written out (a derived exclusion names the service types)."""
    template = APPLICABILITY_BASIS.get(applicability.basis)
    if template is None:
        return ""
    if applicability.basis in ("service_type", "built_on"):
        return str(template) % {"types": ", ".join(applicability.limited_to)}
    return str(template)


def entry_text(entry: dict, locale: str) -> str:
    """An expected evidence entry in the reader's language (French when it has no English)."""
    return (entry.get("text_en") if locale == "en" else "") or entry.get("text", "")


def localised(requirement, name: str, locale: str | None = None) -> str:
    """A requirement's (or a section's) title, summary or condition in the reader's language (French when it has
    no English); `locale`: the current one unless given."""
    if locale is None:
        from evidence.presentation.typography import current_locale

        locale = current_locale()
    return (getattr(requirement, f"{name}_en", "") if locale == "en" else "") or getattr(requirement, name, "")


def describe_gaps(reasons, states, entries, locale: str, automated=()) -> list[str]:
    """Each missing piece as a sentence that names it: "preuve attendue manquante : <entry> (12.6.a#1)".

    `states`: (entry id, state) of the checklist lines; `entries`: the item's checklist (for the words);
    `automated`: the notes on automated evidence behind an automated_* reason (rules.AutomatedNote or the
    dossier snapshot's dicts), each worded after that reason's lines ("12 contrôles Prowler en échec")."""
    by_id = {e["id"]: e for e in entries or []}
    sentences = []
    notes = [automated_sentence(note, locale) for note in automated or ()]
    for reason in reasons:
        missing = [(i, s) for i, s in states if s == rules.REASON_ENTRY.get(reason)]
        if missing:
            sentences += [str(GAP_LINE) % {"state": ENTRY_STATE[s], "entry": entry_text(by_id.get(i, {}), locale), "id": i}
                          for i, s in missing]
        else:
            sentences.append(str(REASON.get(reason, reason)))
        if reason in (rules.AUTOMATED_FAILING, rules.AUTOMATED_STALE):
            sentences += notes
            notes = []
    return sentences + notes


def automated_sentence(note, locale: str) -> str:
    """Why automated evidence proves nothing today, in words: "résultat Prowler du 3 novembre 2026 expiré (EV-0012)",
    "12 contrôles Prowler en échec (EV-0012)". `note`: a rules.AutomatedNote, or its dict in a dossier snapshot."""
    get = note.get if isinstance(note, dict) else lambda name: getattr(note, name)
    collector = COLLECTOR.get(get("collector"), get("collector"))
    ref, failed = get("ref"), get("failed") or 0
    if get("reason") == rules.AUTOMATED_FAILING and failed:
        form = (1 if failed <= 1 else 2) if locale == "fr" else failed  # French: 0 and 1 are singular
        return ngettext("%(count)s contrôle %(collector)s en échec (%(ref)s)",
                        "%(count)s contrôles %(collector)s en échec (%(ref)s)", form,
                        count=number(failed, locale), collector=collector, ref=ref)
    if get("reason") == rules.AUTOMATED_FAILING:
        return gettext("résultat %(collector)s du %(date)s en échec (%(ref)s)", collector=collector,
                       date=long_date(get("run_on"), locale), ref=ref)
    if get("run_on") is None:
        return gettext("aucun résultat %(collector)s (%(ref)s)", collector=collector, ref=ref)
    return gettext("résultat %(collector)s du %(date)s expiré (%(ref)s)", collector=collector,
                   date=long_date(get("run_on"), locale), ref=ref)


def gap_sentences(status, requirement, locale: str) -> list[str]:
    return describe_gaps(status.reasons, [(e.id, e.state) for e in status.entries],
                         requirement.expected_evidence, locale, getattr(status, "automated", ()))
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
    "subcontractors": _l("Aucun accès technique de tiers extra-européens aux données"),
    "operating_autonomy": _l("Tiers qualifiés SecNumCloud ou autonomie d'exploitation garantie"),
    "foreign_public_links": _l("Liens avec des gouvernements ou organismes publics étrangers évalués"),
    "customer_notices": _l("Commanditaires informés des changements sous un mois"),
    "customer_data": _l("Données des commanditaires dans l'UE"),
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
CHANGE_KIND = {"legal": _l("juridique"), "organisational": _l("organisationnel"), "technical": _l("technique")}
ACCESS_ASSESSMENT = {True: _l("oui"), False: _l("non"), None: _l("non évalué")}

# The figures a sovereignty check gives beside its verdict (seats are named by SEAT).
FIGURE = {
    **SEAT,
    "non_eu_combined": _l("détention hors UE cumulée"), "largest_non_eu": _l("plus forte détention hors UE"),
    "third_parties": _l("sociétés tierces"), "non_eu_or_controlled": _l("hors UE ou contrôlées hors UE"),
    "qualified": _l("qualifiées"), "autonomous": _l("autonomes"), "links": _l("liens"), "assessed": _l("évalués"),
    "declared_none": _l("absence déclarée"), "changes": _l("changements"), "late": _l("en retard"),
    "pending": _l("à informer"), "places": _l("lieux"), "non_eu_support": _l("support hors UE"),
    "administration": _l("administration"),
}

# The perimeter's reference documents, each named with the items that ask for it (the evaluator's first
# requests), and the architecture diagrams.
REFERENCE_DOCUMENT = {
    "security_policy": _l("Politique de sécurité du service (5.2.a)"),
    "risk_assessment": _l("Appréciation des risques (5.3)"),
    "extra_eu_law_risk": _l("Risques résiduels liés aux lois extra-européennes (5.3.d)"),
    "network_map": _l("Cartographie du système d'information (13.1.a)"),
    "continuity_plan": _l("Plan de continuité d'activité (17.1.a)"),
    "continuity_tests": _l("Tests du plan de continuité d'activité (17.3.a)"),
    "audit_programme": _l("Programme d'audit (18.2.1.a)"),
    "passi_audit": _l("Revue initiale indépendante par un PASSI (18.2.2.a)"),
    "service_agreement": _l("Convention de service (19.1.a)"),
    "architecture": _l("Schéma d'architecture"),
}
# The perimeter's structured description, in the order the dossier prints it.
DESCRIPTION = {
    "service_offer": _l("Offre de service"),
    "customers": _l("Commanditaires et utilisateurs"),
    "interconnections": _l("Interconnexions"),
    "administration": _l("Chemins d'administration"),
    "out_of_scope": _l("Hors périmètre"),
}
# Evidence classification. "restricted" is not worded "Diffusion restreinte": that is a regulated French
# protection mention, which this tool cannot honour.
CLASSIFICATION = {"public": _l("Public"), "internal": _l("Interne"), "restricted": _l("Restreint"),
                  "confidential": _l("Confidentiel")}
EVIDENCE_KIND = {"policy": _l("Politique"), "procedure": _l("Procédure"), "record": _l("Enregistrement"),
                 "report": _l("Rapport"), "configuration": _l("Configuration"), "screenshot": _l("Capture d'écran"),
                 "attestation": _l("Attestation"), "link": _l("Lien"), "automated": _l("Preuve automatisée")}
RESIDUAL_RISK = {"": _l("non évalué"), "low": _l("faible"), "medium": _l("moyen"), "high": _l("élevé")}
# How often recurring evidence is renewed ("" : when it expires); the inbox's sentences use the same words.
RENEWAL_CADENCE = {"monthly": _l("mensuel"), "quarterly": _l("trimestriel"), "half_yearly": _l("semestriel"),
                   "yearly": _l("annuel")}

ROLE = {"admin": _l("Administrateur"), "manager": _l("Responsable conformité"), "contributor": _l("Contributeur"),
        "auditor": _l("Auditeur"), "evaluator": _l("Évaluateur")}
CAMPAIGN_KIND = {"initial": _l("Évaluation initiale"), "surveillance_1": _l("Audit de surveillance (1re année)"),
                 "surveillance_2": _l("Audit de surveillance (2e année)"), "renewal": _l("Évaluation de renouvellement")}
REQUEST_STATUS = {"open": _l("Ouverte"), "answered": _l("Répondue"), "accepted": _l("Acceptée"),
                  "reopened": _l("Rouverte")}
COMMENT_SUBJECT = {"requirement": _l("point du référentiel"), "control": _l("mesure"),
                   "evidence_version": _l("version de preuve"), "request": _l("demande de pièces"),
                   "finding": _l("constat")}
DOSSIER_STATUS = {"queued": _l("En attente"), "rendering": _l("Mise en page"), "draft": _l("Projet"),
                  "approved": _l("Approuvée"), "failed": _l("Échec")}
# Each language in its own name, whatever the page's language: a reader looks for the name they read.
LOCALE_NAME = {"fr": "Français", "en": "English"}
CONTROL_CATEGORY = {"organisational": _l("Organisationnelle"), "physical": _l("Physique"), "technical": _l("Technique"),
                    "procedural": _l("Procédurale")}
# How an item of one framework relates to an item of another (a CISO Assistant mapping's words).
LINK_RELATIONSHIP = {"equal": _l("équivalent"), "subset": _l("inclus dans"), "superset": _l("englobe"),
                     "intersect": _l("recoupe")}
HOLDER_KIND = {"direct": _l("directe"), "ultimate": _l("entité contrôlante ultime")}
APPLICABILITY_REASON = {"service_type": _l("type de service"), "inherited": _l("hérité du socle"),
                        "manual": _l("décision manuelle"), "condition": _l("condition non remplie"),
                        "recommendation": _l("recommandation non applicable")}

# Automated evidence: a collector's run, and what a collection did with each subject (audit log, pages).
COLLECTION_RESULT = {"passed": _l("réussi"), "failed": _l("en échec"), "partly": _l("en partie en échec")}
COLLECTION_OUTCOME = {"created": _l("créée"), "refreshed": _l("actualisée"), "unchanged": _l("inchangée")}

# Every vocabulary a page may show, by name: the `word` filter's table ({{ code|word("evidence_status") }}).
WORDS = {
    "status": STATUS, "coverage": STATUS, "reason": REASON, "kind": KIND, "requirement_kind": KIND,
    "entry_state": ENTRY_STATE, "evidence_status": EVIDENCE_STATUS, "applicability": APPLICABILITY,
    "severity": SEVERITY, "finding_status": FINDING_STATUS, "action_status": ACTION_STATUS,
    "control_status": CONTROL_STATUS, "freshness": FRESHNESS, "phase": PHASE, "check": CHECK, "seat": SEAT,
    "data_category": DATA_CATEGORY, "data_activity": DATA_ACTIVITY, "operation": OPERATION,
    "change_kind": CHANGE_KIND, "figure": FIGURE, "reference_document": REFERENCE_DOCUMENT,
    "description": DESCRIPTION, "classification": CLASSIFICATION, "evidence_kind": EVIDENCE_KIND,
    "residual_risk": RESIDUAL_RISK, "role": ROLE, "dossier_status": DOSSIER_STATUS, "locale": LOCALE_NAME,
    "control_category": CONTROL_CATEGORY, "link_relationship": LINK_RELATIONSHIP, "holder_kind": HOLDER_KIND,
    "applicability_reason": APPLICABILITY_REASON, "renewal_cadence": RENEWAL_CADENCE,
}
WORDS.update({"collection_result": COLLECTION_RESULT, "collection_outcome": COLLECTION_OUTCOME, "collector": COLLECTOR})
WORDS["comment_subject"] = COMMENT_SUBJECT  # what a comment is on (the audit trail's "subject_type")
WORDS["request_status"] = REQUEST_STATUS  # an evidence request's (the audit trail's "status" of a request)

# Second factors: what a login was completed with (the audit trail's "second_factor").
SECOND_FACTOR = {"totp": _l("application d’authentification"), "recovery": _l("code de récupération"),
                 "webauthn": _l("clé de sécurité"), "sso": _l("fournisseur d’identité"),
                 "password": _l("mot de passe")}  # what a change to the factors was confirmed with, when not a code
SECOND_FACTOR_STEP = {"login": _l("connexion"), "confirm": _l("confirmation d’un changement de second facteur")}
WORDS["second_factor"] = SECOND_FACTOR
WORDS["second_factor_step"] = SECOND_FACTOR_STEP

# Why a login was refused (the audit trail's "reason" on login.failed and auth.sso_refused).
LOGIN_REFUSAL = {
    "disabled": _l("compte désactivé"), "sso_only": _l("mot de passe refusé : compte lié au fournisseur d’identité"),
    "unknown_user": _l("aucun compte pour cette identité"), "email_unverified": _l("adresse e-mail non vérifiée"),
    "bound_elsewhere": _l("compte lié à une autre identité"), "no_role": _l("aucun groupe donnant un rôle"),
    "last_admin": _l("dernier administrateur actif"), "invalid_token": _l("jeton d’identité invalide"),
    "state": _l("réponse inattendue (state inconnu ou déjà utilisé)"),
    "provider_error": _l("refus du fournisseur d’identité"), "unavailable": _l("fournisseur d’identité injoignable"),
}
WORDS["login_refusal"] = LOGIN_REFUSAL


def word(code, vocabulary: str, capital: bool = False) -> str:
    """A code as the reader's word: `word("in_review", "evidence_status")` → "en revue" / "in review";
    `capital` for a badge or a cell that starts with it ("En revue"). A code the table lacks is shown as it is
    (a test of every page fails on it, so the table gets completed)."""
    table = WORDS[vocabulary]
    text_ = str(table[code]) if code in table else ("" if code is None else str(code))
    return text_[:1].upper() + text_[1:] if capital else text_


def capitalised(mapping: dict) -> dict:
    """The same words starting with a capital, for a select's options or a badge ("en revue" → "En revue"),
    translated when shown like the mapping's own."""
    return {code: LazyString(lambda w=w: (lambda t: t[:1].upper() + t[1:])(str(w))) for code, w in mapping.items()}
