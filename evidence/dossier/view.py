"""The snapshot arranged for the dossier's template: chapters → sections → items, evidence by ref, labels,
and the document cut into parts that each start on a new page.

The words come from Flask-Babel in the locale the caller forced (generate.py renders under force_locale,
inside the application context the boundary opened).
"""
from __future__ import annotations

from flask_babel import gettext as _

from evidence.core import rules
from evidence.core.vocabulary import COVERAGE_STATES
from evidence.presentation import charts, labels

INDEX_RUN = 250  # evidence versions per run of the index (each run starts a page: one change re-lays one run)
CHAPTER_RUN = 300  # lines, about 8 pages: a longer chapter comes in runs of whole sections, each on a new page


class DossierView:
    """The snapshot arranged for the template: chapters → sections → items, evidence by ref, labels."""

    # The summary's figures, best first (the words are the team's claim of coverage).
    coverage_states = tuple(reversed(COVERAGE_STATES)) + (rules.NOT_APPLICABLE,)

    def __init__(self, snapshot: dict, lang: str):
        self.s = snapshot
        self.lang = lang
        self.labels = _Labels()
        self.evidence = {e["ref"]: e for e in snapshot["evidence"]}
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

    def title(self, item) -> str:
        return self.text(item, "title")

    def text(self, item, name: str) -> str:
        """An item's text in the dossier's language (French when it has no English)."""
        return (item.get(f"{name}_en") if self.lang == "en" else "") or item.get(name) or ""

    def entry(self, entry) -> str:
        return labels.entry_text(entry, self.lang)

    def gaps(self, item) -> str:
        """What the item still lacks, each piece named, as one line."""
        entries = item.get("expected_evidence", [])
        sentences = labels.describe_gaps(item["reasons"], [(e["id"], e["state"]) for e in entries], entries, self.lang)
        return _(" ; ").join(sentences)

    def basis(self, item) -> str:
        return labels.basis(rules.ItemApplicability(item["applicability"], item["applicability_derived"],
                                                    basis=item.get("applicability_basis", ""),
                                                    limited_to=tuple(item.get("limited_to", ()))))

    def chart(self) -> str:
        """The overview's bar chart (SVG): covered exigences per chapter."""
        data = [(chapter, self.section_titles.get(chapter, ""), rules.Readiness(c, a))
                for chapter, c, a in self.s["readiness"]["chapters"]]
        return charts.chapter_bars(data, _("Exigences couvertes par chapitre"))

    @property
    def contents(self) -> list[dict]:
        """The table of contents: anchor and label of each entry."""
        return ([{"anchor": "perimeter", "label": _("Le périmètre")}, {"anchor": "summary", "label": _("Synthèse")},
                 {"anchor": "matrix", "label": _("Matrice de traçabilité")}]
                + [{"anchor": f"ch-{c['ref']}", "label": f"{c['ref']}. {c['title']}"} for c in self.chapters]
                + [{"anchor": "gaps", "label": _("Écarts et plan d'action")},
                   {"anchor": "findings", "label": _("Constats de l'évaluation")}]
                + ([{"anchor": "sovereignty", "label": _("Annexe : souveraineté (chapitre 19)")}]
                   if self.s.get("sovereignty") else [])
                + [{"anchor": "index", "label": _("Index des preuves")}])

    @staticmethod
    def _lines(item: dict) -> int:
        """About how many lines an item takes: what a part's layout time is proportional to."""
        text = item["official_text"] or item["summary"] or ""
        return 3 + len(text) // 110 + 2 * len(item["controls"]) + len(item["evidence"]) + 2 * bool(item["reasons"])

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

    def parts(self) -> list[dict]:
        """The document cut into parts that each start on a new page, in order; `anchors` are the ids each
        part holds (the table of contents points at them)."""
        parts = [{"kind": "front", "anchors": ["history", "toc"]},
                 {"kind": "overview", "anchors": ["perimeter", "summary"]},
                 {"kind": "matrix", "items": self.s["items"], "anchors": ["matrix"]}]
        for c in self.chapters:
            runs = self._runs(c["blocks"])
            parts += [{"kind": "chapter", "chapter": c, "blocks": blocks, "first": n == 0,
                       "anchors": [f"ch-{c['ref']}"] if n == 0 else []} for n, blocks in enumerate(runs)]
        parts.append({"kind": "gaps", "anchors": ["gaps", "findings"]})
        if self.s.get("sovereignty"):
            parts.append({"kind": "sovereignty", "anchors": ["sovereignty"]})
        evidence = self.s["evidence"]
        runs = [evidence[i:i + INDEX_RUN] for i in range(0, len(evidence), INDEX_RUN)] or [[]]
        parts += [{"kind": "index", "evidence": run, "first": n == 0, "anchors": ["index"] if n == 0 else []}
                  for n, run in enumerate(runs)]
        return parts


class _Labels:
    """The `labels` mappings with their words translated once per rendering (a lazy string translates itself
    each time it is printed, and the dossier prints thousands of them)."""

    def __getattr__(self, name: str) -> dict:
        mapping = {key: str(value) for key, value in getattr(labels, name).items()}
        setattr(self, name, mapping)
        return mapping
