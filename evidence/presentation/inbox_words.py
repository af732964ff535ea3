"""The inbox's and the digest's words: one sentence per kind of notification or task, put together in the reader's
language from what was stored (refs, titles, names as they were) and the dates, written as that reader writes them.
Read without Flask, so that the digest job speaks each recipient's language.
"""
from __future__ import annotations

from evidence.core.errors import N_, Message
from evidence.presentation import messages, typography

SENTENCE = {
    "review_requested": N_("%(actor)s demande la revue de %(ref)s « %(title)s »"),
    "evidence_approved": N_("%(actor)s a approuvé %(ref)s « %(title)s »"),
    "evidence_rejected": N_("%(actor)s a rejeté %(ref)s « %(title)s » : %(comment)s"),
    "finding_raised": N_("%(severity)s sur %(item)s (%(perimeter)s), que couvre votre mesure %(controls)s : %(text)s"),
    "finding_closed": N_("%(actor)s a clos le constat (%(severity)s) sur %(item)s (%(perimeter)s) : %(text)s"),
    "evidence_expiring": N_("%(ref)s « %(title)s » expire le %(date)s"),
    "evidence_expired": N_("%(ref)s « %(title)s » a expiré le %(date)s"),
    "action_overdue": N_("L’action « %(title)s » (%(perimeter)s) devait être terminée le %(date)s"),
    "renewal_due": N_("%(ref)s « %(title)s » : renouvellement %(cadence)s à faire pour le %(date)s"),
}
# Evidence requests (services.requests): what the evaluation centre asks, the answer, the reopening and why.
SENTENCE.update({
    "request_raised": N_("%(actor)s demande une pièce sur %(subject)s (%(perimeter)s, demande n° %(id)s) : %(text)s"),
    "request_answered": N_("%(actor)s a répondu à la demande n° %(id)s sur %(subject)s (%(perimeter)s) : %(text)s"),
    "request_reopened": N_("%(actor)s a rouvert la demande n° %(id)s sur %(subject)s (%(perimeter)s) : %(text)s"),
})
# A mention in a comment (services.comments): its subject in words, from the kind and the label stored.
SENTENCE["mentioned"] = N_("%(actor)s vous mentionne dans un commentaire sur %(subject)s (%(perimeter)s) : %(text)s")
COMMENT_SUBJECT = {"requirement": N_("le point %(label)s"), "control": N_("la mesure %(label)s"),
                   "evidence_version": N_("la preuve %(label)s"), "request": N_("la demande n° %(label)s"),
                   "finding": N_("le constat n° %(label)s")}
# A variant where a parameter is missing or the date has passed.
ACTION_WITHOUT_PERIMETER = N_("L’action « %(title)s » devait être terminée le %(date)s")
RENEWAL_LATE = N_("%(ref)s « %(title)s » : renouvellement %(cadence)s en retard depuis le %(date)s")
# The tag beside each line of the inbox.
KIND = {
    "review_requested": N_("Revue demandée"),
    "evidence_approved": N_("Preuve approuvée"),
    "evidence_rejected": N_("Preuve rejetée"),
    "finding_raised": N_("Écart relevé"),
    "finding_closed": N_("Constat clos"),
    "evidence_expiring": N_("Expire bientôt"),
    "evidence_expired": N_("Expirée"),
    "action_overdue": N_("Action en retard"),
    "renewal_due": N_("Renouvellement"),
}
KIND["mentioned"] = N_("Mention")
KIND.update({"request_raised": N_("Pièce demandée"), "request_answered": N_("Demande répondue"),
             "request_reopened": N_("Demande rouverte")})
# The same words as presentation.labels.SEVERITY and RENEWAL_CADENCE (one msgid each in the catalogue).
SEVERITY = {"major": N_("Non-conformité majeure"), "minor": N_("Non-conformité mineure"),
            "observation": N_("Remarque")}
CADENCE = {"monthly": N_("mensuel"), "quarterly": N_("trimestriel"), "half_yearly": N_("semestriel"),
           "yearly": N_("annuel")}


def sentence(item, locale: str, today=None) -> str:
    """The line that says what the notification or task is, in `locale` (`today`: to say a renewal is late)."""
    params = dict(item.params)
    message_id = SENTENCE[item.kind]
    if item.on is not None:
        params["date"] = typography.long_date(item.on, locale)
    if "severity" in params:
        params["severity"] = Message(SEVERITY.get(params["severity"], params["severity"]))
    if item.kind == "mentioned":
        params["subject"] = Message(COMMENT_SUBJECT.get(params.get("subject_type"), "%(label)s"),
                                    label=params.get("subject", ""))
    if "cadence" in params:
        params["cadence"] = Message(CADENCE.get(params["cadence"], params["cadence"]))
    if item.kind == "action_overdue" and not params.get("perimeter"):
        message_id = ACTION_WITHOUT_PERIMETER
    if item.kind == "renewal_due" and today is not None and item.on is not None and item.on < today:
        message_id = RENEWAL_LATE
    return messages.render(Message(message_id, **params), locale)


def kind(item, locale: str) -> str:
    return messages.render(Message(KIND[item.kind]), locale)


def text(message_id: str, locale: str, **params) -> str:
    """Any of the digest's other sentences (its subject, its headings), in `locale`."""
    return messages.render(Message(message_id, **params), locale)
