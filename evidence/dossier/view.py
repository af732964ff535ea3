"""The snapshot arranged for the dossier's template: chapters → sections → items, evidence by ref, labels,
and the document cut into parts that each start on a new page.

The words come from Flask-Babel in the locale the caller forced (pdf.py renders under force_locale, inside
the application context the boundary opened). A snapshot taken before a key existed still renders: every key
added since format 1 is read with a default.
"""
from __future__ import annotations

from typing import Optional

from flask_babel import gettext as _

from evidence.core import rules
from evidence.core.vocabulary import COVERAGE_STATES, REFERENCE_DOCUMENTS
from evidence.presentation import changes as change_words
from evidence.presentation import charts, labels, sovereignty_words

# Rows per run of the long tables: each run is a part that starts a page and repeats the table's header, so that
# one change lays out one run again (about five pages each).
INDEX_RUN = 100  # evidence versions per run of the register
SOA_RUN = 90  # items per run of the statement of applicability (and of the recommendations)
GAPS_RUN = 30  # gaps per run of the gaps table (a gap's row names every missing piece: long rows)
CHAPTER_RUN = 300  # lines, about 8 pages: a longer chapter comes in runs of whole sections, each on a new page


class DossierView:
    """The snapshot arranged for the template: chapters → sections → items, evidence by ref, labels."""

    # The summary's figures, best first (the words are the team's claim of coverage).
    coverage_states = tuple(reversed(COVERAGE_STATES)) + (rules.NOT_APPLICABLE,)

    def __init__(self, snapshot: dict, lang: str, signoff: Optional[dict] = None, images: Optional[dict] = None):
        self.s = snapshot
        self.lang = lang
        # None for a draft; {"final", "approvals": [{"name", "function", "approved_at"}], "manifest_sha256"}
        self.signoff = signoff
        self.draft = not (signoff and signoff.get("final"))
        self.images = images or {}  # diagram sha256 → data: URI of its safe PNG (diagrams.inline_images)
        self.labels = _Labels()
        self.evidence = {e["ref"]: e for e in snapshot["evidence"]}
        self.exigences = [i for i in snapshot["items"] if i["kind"] != "recommandation"]
        self.recommendations = [i for i in snapshot["items"] if i["kind"] == "recommandation"]
        # Actions by the item and the finding they answer (the gaps part prints them beside each).
        self.item_actions: dict[str, list] = {}
        self.finding_actions: dict[int, list] = {}
        for action in snapshot["actions"]:
            for ref in action.get("requirements", ()):
                self.item_actions.setdefault(ref, []).append(action)
            for finding in action.get("findings", ()):
                self.finding_actions.setdefault(finding, []).append(action)
        sections = snapshot["sections"]
        self.section_titles = {s["ref"]: (s["title_en"] if lang == "en" and s["title_en"] else s["title"]) for s in sections}
        by_section: dict[str, list] = {}
        for item in snapshot["items"]:
            by_section.setdefault(item["section"], []).append(item)
        self.chapters = []
        for chapter in (s for s in sections if s["parent"] is None):
            subsections = [s for s in sections if s["ref"] != chapter["ref"] and self._chapter_of(s, sections) == chapter["ref"]]
            blocks = [{"ref": s["ref"], "title": self.section_titles[s["ref"]], "depth": s["depth"],
                       "items": by_section.get(s["ref"], [])} for s in [chapter] + subsections]
            blocks = [b for b in blocks if b["items"]] or []
            self.chapters.append({"ref": chapter["ref"], "title": self.section_titles[chapter["ref"]], "blocks": blocks,
                                  "count": sum(len(b["items"]) for b in blocks)})
        self.chapters = [c for c in self.chapters if c["count"]]

    @staticmethod
    def _chapter_of(section, sections):
        by_ref = {s["ref"]: s for s in sections}
        while section["parent"]:
            section = by_ref[section["parent"]]
        return section["ref"]

    @property
    def name(self) -> str:
        """The dossier's name in the running texts: code and version."""
        return _("Dossier SecNumCloud %(code)s v%(n)d", code=self.s["perimeter"]["code"], n=self.s.get("number") or 0)

    @property
    def marking(self) -> str:
        """The marking the options carry (the DOSSIER_MARKING setting or what the user typed), or "": none is
        ever added by default."""
        options = self.s.get("options") or {}
        return (options.get("marking") or options.get("classification") or "").strip()

    @property
    def draft_word(self) -> str:
        return _("PROJET") if self.draft else ""

    @property
    def footer(self) -> str:
        return _("%(name)s — %(marking)s", name=self.name, marking=self.marking) if self.marking else self.name

    def title(self, item) -> str:
        return self.text(item, "title")

    def wording(self, item) -> str:
        """The item's words in the statement of applicability: the official wording when it was imported (it
        is French: the English dossier keeps the catalogue's English title), else the short title."""
        if self.lang != "en" and item.get("official_text"):
            return item["official_text"]
        return self.title(item)

    def statement_of(self, item) -> str:
        """The item's text in the detail: the official wording (French only), else the summary."""
        return (item.get("official_text") if self.lang != "en" else "") or self.text(item, "summary")

    def text(self, item, name: str) -> str:
        """An item's text in the dossier's language (French when it has no English)."""
        return (item.get(f"{name}_en") if self.lang == "en" else "") or item.get(name) or ""

    def entry(self, entry) -> str:
        return labels.entry_text(entry, self.lang)

    def gaps(self, item) -> str:
        """What the item still lacks, each piece named, as one line."""
        entries = item.get("expected_evidence", [])
        sentences = labels.describe_gaps(item["reasons"], [(e["id"], e["state"]) for e in entries], entries, self.lang,
                                         item.get("automated", ()))
        return _(" ; ").join(sentences)

    def basis(self, item) -> str:
        return labels.basis(rules.ItemApplicability(item["applicability"], item["applicability_derived"],
                                                    basis=item.get("applicability_basis", ""),
                                                    limited_to=tuple(item.get("limited_to", ()))))

    def justification(self, item) -> str:
        """Why an item is not applicable or inherited: the rule's words, the lower layer, the manager's text."""
        if item["applicability"] == "applicable":
            return ""
        words = [self.basis(item)]
        if item.get("inherited_from"):
            words.append(_("socle %(code)s", code=item["inherited_from"]))
        if not item["applicability_derived"] and item.get("applicability_justification"):
            words.append(item["applicability_justification"])
        return _(" ; ").join(w for w in words if w)

    # --- The front part: history and changes --------------------------------------------------------------

    @property
    def history(self) -> list[dict]:
        return self.s.get("history") or []

    def campaign_name(self, campaign: Optional[dict]) -> str:
        """The evaluation campaign a version was for: « Évaluation initiale (Centre X, du … au …) »."""
        return change_words.campaign_name(campaign)

    def change_sentences(self, changes) -> list[str]:
        """A version's changes since the previous one, as sentences (the first version says it is the first;
        a version recorded before changes were computed says nothing)."""
        if changes is not None and not isinstance(changes, dict):
            return []
        return change_words.describe(changes)

    @property
    def approvals(self) -> list[dict]:
        return (self.signoff or {}).get("approvals") or []

    # --- The perimeter ---------------------------------------------------------------------------------------

    @property
    def description(self) -> list[tuple[str, str]]:
        """The perimeter's structured description: (label, text) of each field filled in."""
        p = self.s["perimeter"]
        return [(self.labels.DESCRIPTION[key], p[key]) for key in labels.DESCRIPTION if p.get(key)]

    @property
    def diagrams(self) -> list[dict]:
        """The architecture diagrams, each with its data: URI when its file is a safe image (else None: the
        dossier lists it and says why it is not shown)."""
        return [{**d, "image": self.images.get(d.get("sha256")) if d.get("cited") else None}
                for d in self.s.get("diagrams") or []]

    @property
    def references(self) -> list[dict]:
        """Every reference document role, in the vocabulary's order, with what was designated for it (a role
        with nothing designated has no document: the dossier says it is missing)."""
        by_role: dict[str, list] = {}
        for document in self.s.get("documents") or []:
            by_role.setdefault(document["role"], []).append(document)
        return [{"role": role, "label": self.labels.REFERENCE_DOCUMENT[role], "documents": by_role.get(role, [])}
                for role in REFERENCE_DOCUMENTS]

    def not_cited(self, document) -> str:
        """Why a designated document is not cited: the rule every proof follows, worded."""
        if document.get("freshness") == rules.EXPIRED:
            return _("non cité : la preuve a expiré")
        if document.get("status") != "approved":
            return _("non cité : la preuve n'est pas approuvée (%(status)s)",
                     status=self.labels.EVIDENCE_STATUS.get(document.get("status"), document.get("status")))
        return _("non cité : la preuve ne vaut pas pour ce périmètre")

    # --- Chapter 19 ------------------------------------------------------------------------------------------

    def problem(self, problem) -> str:
        """A sovereignty check's problem in the dossier's language (a snapshot of format 1 kept French text)."""
        return problem if isinstance(problem, str) else sovereignty_words.problem(problem)

    def figure(self, key: str, value) -> str:
        """A check's figure, named and valued in the dossier's language."""
        return sovereignty_words.figure(key, value)

    @staticmethod
    def country(code) -> str:
        """A country by its name in the dossier's language ("France", "États-Unis")."""
        return sovereignty_words.country(code)

    # --- Per item ---------------------------------------------------------------------------------------

    def checklist(self, item) -> list[dict]:
        """The item's expected evidence, each entry with the documents answering it ((ref, title) pairs; a
        document's title is given at its first mention in the item only), its waiver, or its state."""
        seen: set[str] = set()
        lines = []
        for entry in item.get("expected_evidence") or []:
            proofs = []
            for ref in entry.get("proofs") or []:
                proofs.append((ref, "" if ref in seen else self.evidence.get(ref, {}).get("title", "")))
                seen.add(ref)
            lines.append({"id": entry["id"], "text": self.entry(entry), "state": entry["state"], "proofs": proofs,
                          "waiver": entry.get("waiver")})
        return lines

    def other_proofs(self, item) -> list[dict]:
        """The item's proofs that answer no line of its checklist, each cited once."""
        answering = {ref for entry in item.get("expected_evidence") or [] for ref in entry.get("proofs") or []}
        return [self.evidence[ref] for ref in item["evidence"] if ref not in answering and ref in self.evidence]

    def actions_for(self, item) -> list[dict]:
        return self.item_actions.get(item["ref"], [])

    def chart(self) -> str:
        """The overview's bar chart (SVG): covered exigences per chapter."""
        data = [(chapter, self.section_titles.get(chapter, ""), rules.Readiness(c, a))
                for chapter, c, a in self.s["readiness"]["chapters"]]
        return charts.chapter_bars(data, _("Exigences couvertes par chapitre"))

    @property
    def contents(self) -> list[dict]:
        """The table of contents: anchor and label of each entry."""
        return ([{"anchor": "perimeter", "label": _("Le périmètre")}, {"anchor": "summary", "label": _("Synthèse")},
                 {"anchor": "references", "label": _("Documents de référence")},
                 {"anchor": "soa", "label": _("Déclaration d'applicabilité")}]
                + ([{"anchor": "recommendations", "label": _("Recommandations")}] if self.recommendations else [])
                + [{"anchor": f"ch-{c['ref']}", "label": f"{c['ref']}. {c['title']}"} for c in self.chapters]
                + [{"anchor": "gaps", "label": _("Écarts et plan d'action")},
                   {"anchor": "findings", "label": _("Constats de l'évaluation")}]
                + ([{"anchor": "sovereignty", "label": _("Annexe : souveraineté (chapitre 19)")}]
                   if self.s.get("sovereignty") else [])
                + [{"anchor": "register", "label": _("Registre des documents")}])

    @staticmethod
    def _lines(item: dict) -> int:
        """About how many lines an item takes: what a part's layout time is proportional to."""
        text = item["official_text"] or item["summary"] or ""
        statements = sum(len(c.get("statement") or "") // 110 for c in item["controls"])
        return (3 + len(text) // 110 + 2 * len(item["controls"]) + statements + len(item.get("expected_evidence") or ())
                + len(item["evidence"]) // 3 + 2 * bool(item["reasons"]))

    def _runs(self, blocks: list[dict]) -> list[list[dict]]:
        """A chapter's sections in runs of about CHAPTER_RUN lines (a short chapter is one run). Only the
        snapshot decides where runs start: the same snapshot always gives the same pages."""
        sizes = [sum(self._lines(i) for i in b["items"]) for b in blocks]
        count = max(1, round(sum(sizes) / CHAPTER_RUN))
        target = sum(sizes) / count
        runs, current, filled = [], [], 0
        for block, size in zip(blocks, sizes):
            if current and filled + size / 2 > target * (len(runs) + 1) and len(runs) < count - 1:
                runs.append(current)
                current = []
            current.append(block)
            filled += size
        return runs + [current] if current else runs or [[]]

    @staticmethod
    def _cut(kind: str, anchor: str, rows: list, size: int, key: str) -> list[dict]:
        """A long table in runs of `size` rows, each a part of its own that repeats the table's header (one
        change re-lays one run); the first run holds the anchor."""
        runs = [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]
        return [{"kind": kind, key: run, "first": n == 0, "anchors": [anchor] if n == 0 else []}
                for n, run in enumerate(runs)]

    def parts(self) -> list[dict]:
        """The document cut into parts that each start on a new page, in order; `anchors` are the ids each
        part holds (the table of contents points at them). Only the front part holds what belongs to the
        whole dossier (version, dates, sign-off): the others are the same from one version to the next when
        their content is, and come from the part cache."""
        parts = [{"kind": "front", "anchors": ["history", "toc"]},
                 {"kind": "overview", "anchors": ["perimeter", "summary"]},
                 {"kind": "references", "anchors": ["references"]}]
        parts += self._cut("soa", "soa", self.exigences, SOA_RUN, "items")
        if self.recommendations:
            parts += self._cut("recommendations", "recommendations", self.recommendations, SOA_RUN, "items")
        for c in self.chapters:
            runs = self._runs(c["blocks"])
            parts += [{"kind": "chapter", "chapter": c, "blocks": blocks, "first": n == 0,
                       "anchors": [f"ch-{c['ref']}"] if n == 0 else []} for n, blocks in enumerate(runs)]
        parts += self._cut("gaps", "gaps", [i for i in self.s["items"] if i["gap"]], GAPS_RUN, "items")
        parts.append({"kind": "actions", "anchors": ["findings"]})
        if self.s.get("sovereignty"):
            parts.append({"kind": "sovereignty", "anchors": ["sovereignty"]})
        parts += self._cut("register", "register", self.s["evidence"], INDEX_RUN, "evidence")
        return parts


class _Labels:
    """The `labels` mappings with their words translated once per rendering (a lazy string translates itself
    each time it is printed, and the dossier prints thousands of them)."""

    def __getattr__(self, name: str) -> dict:
        mapping = {key: str(value) for key, value in getattr(labels, name).items()}
        setattr(self, name, mapping)
        return mapping
