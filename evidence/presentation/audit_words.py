"""An audit event's details in the reader's words: the trail records codes ("in_review", "customer_data"), the
audit-log page shows their labels (the recorded values, which the hash chain covers, are never changed).

Which vocabulary a value belongs to depends on the field and on the kind of object ("status" of a control is
not "status" of a piece of evidence); a value this module cannot place is shown as recorded.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from evidence.presentation import labels

# (object type, field) → vocabulary of labels.WORDS; object type "" for any object.
FIELDS = {
    ("evidence", "status"): "evidence_status", ("evidence", "from"): "evidence_status",
    ("evidence", "to"): "evidence_status", ("evidence", "kind"): "evidence_kind",
    ("evidence", "classification"): "classification",
    ("control", "status"): "control_status", ("control", "category"): "control_category",
    ("action", "status"): "action_status", ("action", "residual_risk"): "residual_risk",
    ("finding", "status"): "finding_status", ("finding", "severity"): "severity",
    ("dossier", "status"): "dossier_status", ("dossier", "language"): "locale",
    ("perimeter", "from"): "applicability", ("perimeter", "to"): "applicability",
    ("perimeter", "state"): "applicability", ("perimeter", "phase"): "phase",
    ("perimeter", "role"): "reference_document", ("perimeter", "category"): "data_category",
    ("perimeter", "activity"): "data_activity", ("perimeter", "operation"): "operation",
    ("perimeter", "status"): "status", ("perimeter", "reason"): "applicability_reason",
    ("seat", "kind"): "seat", ("shareholder", "kind"): "holder_kind", ("sovereignty_change", "kind"): "change_kind",
    ("sovereignty_change", "origin"): "applicability_reason",
    ("user", "role"): "role", ("user", "from"): "role", ("user", "to"): "role", ("user", "locale"): "locale",
    ("", "role"): "role", ("", "severity"): "severity", ("", "phase"): "phase", ("", "relationship"): "link_relationship",
    ("", "classification"): "classification",
}
ARROW = " → "

# The recorded fields by their name in the registers' and forms' words; a field not named here is shown by its
# technical name (the trail's, which a reader can search for).
FIELD_NAMES = {
    "access_justification": _l("justification de l'accès"), "activity": _l("activité"), "added": _l("ajoutés"),
    "address": _l("adresse"), "allowed_operations": _l("opérations permises"), "alternatives": _l("alternatives"),
    "answers": _l("preuves attendues"), "autonomy_arrangements": _l("dispositions d'autonomie"),
    "before": _l("avant"), "board_majority": _l("majorité du conseil"), "capital_bp": _l("capital"),
    "category": _l("catégorie"), "change": _l("changement"), "changed_on": _l("date du changement"),
    "changes": _l("modifications"), "city": _l("ville"), "comment": _l("commentaire"),
    "contract_ref": _l("référence du contrat"), "controls": _l("mesures"), "country": _l("pays"),
    "data_access": _l("accès aux données des commanditaires"), "days_late": _l("jours de retard"),
    "declared_by": _l("déclarant"), "declared_on": _l("déclaré le"), "description": _l("description"),
    "evidence": _l("preuve"), "file": _l("fichier"), "from": _l("de"), "justification": _l("justification"),
    "kind": _l("nature"), "largest_other_voting_bp": _l("plus forte autre détention des droits de vote"),
    "links_added": _l("correspondances ajoutées"), "links_removed": _l("correspondances retirées"),
    "means": _l("moyen"), "name": _l("nom"), "note": _l("note"), "notes": _l("notes"), "operation": _l("opération"),
    "origin": _l("origine"), "own_skills": _l("compétences propres"), "parent_agreement": _l("accord entre associés"),
    "parent_board_power": _l("pouvoir sur le conseil"), "parent_capital_bp": _l("capital détenu par la société mère"),
    "parent_country": _l("pays de la société mère"), "parent_de_facto": _l("contrôle de fait"),
    "parent_name": _l("société mère"), "parent_voting_bp": _l("droits de vote de la société mère"),
    "perimeter": _l("périmètre"), "perimeters": _l("périmètres"), "qualification_date": _l("date de qualification"),
    "qualification_decision": _l("décision de qualification"), "qualified": _l("qualifiée SecNumCloud"),
    "reason": _l("motif"), "requirement": _l("point"), "requirements": _l("points"), "role": _l("rôle"),
    "sent_on": _l("envoyé le"), "service": _l("service"), "service_types": _l("types de service"),
    "sha256": "SHA-256", "size": _l("taille"), "statement": _l("déclaration de mise en œuvre"),
    "status": _l("état"), "technical_data_access": _l("accès aux données techniques"), "title": _l("titre"),
    "to": _l("vers"), "updated": _l("mis à jour"), "url": _l("adresse du lien"), "version": _l("version"),
    "veto": _l("droit de veto"), "voting_bp": _l("droits de vote"), "language": _l("langue"), "email": _l("e-mail"),
    "state": _l("applicabilité"), "severity": _l("gravité"), "phase": _l("phase"), "owner": _l("responsable"),
    "due_date": _l("échéance"), "valid_until": _l("valable jusqu'au"), "effective_date": _l("date d'effet"),
    "reader_roles": _l("rôles lecteurs"), "readers": _l("lecteurs désignés"), "expires_at": _l("expire le"),
}
# API tokens: the token an API call acted through (every event it causes names it), and a token's own events.
FIELD_NAMES.update({
    "token": _l("jeton d’API"), "account": _l("compte"), "prefix": _l("préfixe"),
    "service_account": _l("compte de service"),
})


def field_name(key: str) -> str:
    return str(FIELD_NAMES[key]) if key in FIELD_NAMES else key


def value_text(object_type: str, key: str, value) -> str:
    """One recorded value as words: a code by its label, a list item by item, a change (old, new) with an arrow,
    a nested record field by field."""
    if isinstance(value, dict):
        return "; ".join(f"{field_name(k)}: {value_text(object_type, k, v)}" for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(object_type, key, v) for v in value)
    vocabulary = FIELDS.get((object_type or "", key)) or FIELDS.get(("", key))
    if vocabulary and isinstance(value, str) and value in labels.WORDS[vocabulary]:
        return labels.word(value, vocabulary)
    if isinstance(value, bool):
        return str(labels.ACCESS_ASSESSMENT[value])
    return "" if value is None else str(value)


def details(event) -> list[tuple[str, str]]:
    """(field, words) of an event's details, by field name; a record's "changes" give one line a field."""
    rows = []
    for key, value in sorted((event.details or {}).items()):
        if key == "changes" and isinstance(value, dict):  # {field: [old, new]}
            # One line a field: "nom : Vigie SOC", "état : prévue → en place".
            for field, pair in sorted(value.items()):
                words = (ARROW.join(value_text(event.object_type, field, v) for v in pair)
                         if isinstance(pair, (list, tuple)) and len(pair) == 2 and field != "alternatives"
                         else value_text(event.object_type, field, pair))
                rows.append((field_name(field), words))
        else:
            rows.append((field_name(key), value_text(event.object_type, key, value)))
    return rows


# What an event's action code ("sovereignty.holder.delete") says: the thing acted on, then what was done to it.
# The code itself stays on the page beside the words: it is what the trail records and what the filter takes.
SUBJECT = {
    "action": _l("Action"), "applicability": _l("Applicabilité"), "catalogue": _l("Catalogue"),
    "control": _l("Mesure"), "dossier": _l("Dossier"), "evidence": _l("Preuve"), "finding": _l("Constat"),
    "instance": _l("Instance"), "login": _l("Connexion"), "logout": _l("Déconnexion"), "perimeter": _l("Périmètre"),
    "perimeter.document": _l("Document de référence"), "user": _l("Utilisateur"), "verdict": _l("Verdict"),
    "waiver": _l("Dispense"), "sovereignty": _l("Souveraineté"), "sovereignty.seat": _l("Siège"),
    "sovereignty.holder": _l("Détenteur"), "sovereignty.subcontractor": _l("Sous-traitant"),
    "sovereignty.site": _l("Site"), "sovereignty.data_location": _l("Localisation des données"),
    "sovereignty.operation": _l("Lieu d’exploitation"), "sovereignty.foreign_link": _l("Lien avec un État tiers"),
    "sovereignty.foreign_link_declaration": _l("Déclaration d’absence de lien"),
    "sovereignty.change": _l("Changement"), "sovereignty.change_notice": _l("Information des commanditaires"),
    "sovereignty.notice": _l("Information des commanditaires"), "sovereignty.link": _l("Lien avec un État tiers"),
    "sovereignty.data": _l("Localisation des données"),
}
SUBJECT["token"] = _l("Jeton d’API")
DEED = {
    "create": _l("création"), "update": _l("modification"), "delete": _l("suppression"), "retire": _l("retrait"),
    "map": _l("association"), "unmap": _l("dissociation"), "mapping_update": _l("mise en œuvre modifiée"),
    "submit": _l("soumission en revue"), "approve": _l("approbation"), "reject": _l("rejet"),
    "reopen": _l("retour en brouillon"), "version": _l("nouvelle version"), "change": _l("décision"),
    "restore": _l("rétablissement"), "set": _l("enregistrement"), "clear": _l("retrait"), "load": _l("chargement"),
    "import": _l("import"), "queue": _l("demande"), "render": _l("mise en page"), "render_again": _l("nouvelle mise en page"),
    "freeze": _l("gel"), "sign": _l("signature"), "sign_fail": _l("échec de signature"), "fail": _l("échec"),
    "designate": _l("désignation"), "remove": _l("retrait"), "withdraw": _l("retrait"), "enable": _l("réactivation"),
    "disable": _l("désactivation"), "role_change": _l("changement de rôle"),
    "password_change": _l("changement de mot de passe"), "password_link": _l("lien de mot de passe"),
    "failed": _l("échec"), "throttled": _l("bloquée"), "readers": _l("lecteurs désignés"),
}
DEED["revoke"] = _l("révocation")  # an API token's
# The perimeters an auditor or an evaluator reads (services.grants): before and after, each through its last day.
DEED["grants"] = _l("périmètres accordés")
FIELD_NAMES.setdefault("after", _l("après"))
FIELD_NAMES.setdefault("until", _l("jusqu’au"))
FIELD_NAMES.setdefault("campaign", _l("campagne"))
OBJECT = {
    "action": _l("action"), "control": _l("mesure"), "dossier": _l("dossier"), "evidence": _l("preuve"),
    "finding": _l("constat"), "framework": _l("référentiel"), "perimeter": _l("périmètre"), "user": _l("utilisateur"),
    "requirement": _l("point"), "subcontractor": _l("sous-traitant"), "sovereignty_change": _l("changement"),
    "shareholder": _l("détenteur"), "seat": _l("siège"), "instance": _l("instance"),
}
OBJECT["api_token"] = _l("jeton d’API")
# Second factors (TOTP, recovery codes, the reset): what a login was completed with, what a reset deleted.
SUBJECT["auth"] = _l("Authentification")
DEED.update({
    "totp_enrolled": _l("application d’authentification enregistrée"),
    "totp_removed": _l("application d’authentification retirée"),
    "recovery_codes_generated": _l("codes de récupération créés"),
    "recovery_code_used": _l("code de récupération utilisé"), "mfa_reset": _l("seconds facteurs réinitialisés"),
    "second_factor_failed": _l("échec du second facteur"),
})
FIELD_NAMES.update({
    "second_factor": _l("second facteur"), "step": _l("étape"), "count": _l("nombre"), "remaining": _l("restants"),
    "totp": _l("applications d’authentification"), "security_keys": _l("clés de sécurité"),
    "recovery_codes": _l("codes de récupération"),
})
FIELDS[("", "second_factor")] = "second_factor"
FIELDS[("user", "step")] = "second_factor_step"
# Security keys (WebAuthn): a key's registration, renaming and removal; a refused one at login says why (an
# unknown key, an answer that does not verify, a signature counter that went back: a cloned key).
DEED.update({
    "security_key_added": _l("clé de sécurité enregistrée"), "security_key_removed": _l("clé de sécurité retirée"),
    "security_key_renamed": _l("clé de sécurité renommée"),
})
FIELD_NAMES.update({
    "method": _l("méthode"), "key": _l("clé de sécurité"), "credential": _l("identifiant de la clé"),
    "aaguid": _l("modèle d’authentificateur (AAGUID)"), "stored": _l("compteur connu"),
    "received": _l("compteur reçu"),
})
FIELDS[("user", "method")] = "second_factor"
# Single sign-on: logins through the identity provider, their refusals, an account bound to its identity.
DEED.update({"sso_login": _l("connexion par le fournisseur d’identité"),
             "sso_refused": _l("connexion par le fournisseur d’identité refusée"),
             "sso_bind": _l("liaison à l’identité du fournisseur")})
DEED["sso_unbind"] = _l("liaison à l’identité du fournisseur retirée")  # by an administrator or the command line
FIELD_NAMES.update({
    "issuer": _l("fournisseur d’identité"), "subject": _l("identifiant chez le fournisseur"),
    "amr": _l("méthodes d’authentification (amr)"), "acr": _l("niveau d’authentification (acr)"),
    "mfa": _l("multifacteur chez le fournisseur"), "error": _l("erreur"),
    "second_factor_due": _l("second facteur demandé ensuite"),
})
FIELDS[("user", "reason")] = FIELDS[("", "reason")] = "login_refusal"

# Automated evidence: a collection (evidence.collect, on the perimeter) and the runs its evidence events record.
DEED["collect"] = _l("collecte automatisée")
FIELD_NAMES.update({
    "collector": _l("collecteur"), "source": _l("source"), "created": _l("créées"), "refreshed": _l("actualisées"),
    "unchanged": _l("inchangées"), "collection_subjects": _l("objets collectés"),
    "collection_subject": _l("objet collecté"), "outcome": _l("résultat de la collecte"),
    "run_at": _l("passage du"), "result": _l("résultat"), "counts": _l("décompte"), "passed": _l("réussis"),
    "failed": _l("en échec"), "muted": _l("en sourdine"), "manual": _l("manuels"), "total": _l("total"),
    "status_before": _l("état avant"),
})
FIELDS[("", "result")] = "collection_result"
FIELDS[("", "outcome")] = "collection_outcome"

# Campaigns and findings raised in place (an evaluator's finding: raised, answered by an action, closed).
SUBJECT["campaign"] = _l("Campagne d’évaluation")
OBJECT["campaign"] = _l("campagne d’évaluation")
DEED.setdefault("raise", _l("émission"))
DEED.setdefault("answer", _l("réponse"))
DEED["close"] = _l("clôture")
FIELD_NAMES.update({
    "campaign": _l("campagne"), "centre": _l("centre d’évaluation"), "starts_on": _l("début"),
    "ends_on": _l("fin"), "closed_on": _l("clôturée le"), "grants_ended": _l("accès clos"),
    "action": _l("action"),
})
labels.WORDS.setdefault("campaign_kind", labels.CAMPAIGN_KIND)  # a campaign's kind, in the campaign's words
FIELDS[("campaign", "kind")] = "campaign_kind"


# Comments (services.comments): posted, edited (the text before kept), deleted (the text deleted kept).
SUBJECT["comment"] = _l("Commentaire")
OBJECT["comment"] = _l("commentaire")
DEED.update({"post": _l("publication"), "edit": _l("modification par son auteur")})
FIELD_NAMES.update({"subject_type": _l("sujet"), "about": _l("à propos de"), "body": _l("texte")})
FIELDS[("comment", "subject_type")] = "comment_subject"

# Evidence requests (services.requests): whole codes, since "reopen" of a request is no return to draft.
SUBJECT.update({"request": _l("Demande de pièces"), "request.raise": _l("Demande de pièces · envoi"),
                "request.answer": _l("Demande de pièces · réponse"),
                "request.accept": _l("Demande de pièces · acceptation"),
                "request.reopen": _l("Demande de pièces · réouverture")})
OBJECT["request"] = _l("demande de pièces")
FIELDS[("request", "status")] = "request_status"


def action_words(code: str) -> str:
    """"Preuve · approbation" for evidence.approve: the longest known subject, then the deed; a code this table
    does not know is shown as it is (a new action shows up as a code until it is worded here)."""
    parts = (code or "").split(".")
    for cut in range(len(parts), 0, -1):
        subject = ".".join(parts[:cut])
        if subject in SUBJECT:
            deeds = parts[cut:]
            if not deeds:
                return str(SUBJECT[subject])
            if all(d in DEED for d in deeds):
                return f"{SUBJECT[subject]} · " + " ".join(str(DEED[d]) for d in deeds)
    return code or ""


def object_word(object_type: str | None) -> str:
    return str(OBJECT[object_type]) if object_type in OBJECT else (object_type or "")
