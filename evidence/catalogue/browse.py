"""Browsing the referential: accent-blind search, applicability by service type, the chapter tree (pure)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from evidence.core.text import fold, search_words

if TYPE_CHECKING:  # only annotations: browsing works on rows already read
    from evidence.data.models import Requirement, Section


def searchable_text(requirement: Requirement) -> str:
    return fold(" ".join([
        requirement.ref, requirement.title, requirement.title_en, requirement.summary, requirement.summary_en,
        requirement.official_text, requirement.condition, requirement.condition_en,
        " ".join(f"{e['text']} {e.get('text_en', '')}" for e in requirement.expected_evidence or []),
    ]))


def search(requirements: Iterable[Requirement], query: str) -> list[Requirement]:
    """Requirements whose text holds every word of the query."""
    words = search_words(query)
    if not words:
        return list(requirements)
    found = []
    for requirement in requirements:
        text = searchable_text(requirement)  # folded once, whatever the number of words
        if all(w in text for w in words):
            found.append(requirement)
    return found


def applies_to(requirement: Requirement, service_type: str) -> bool:
    return not requirement.service_types or service_type in requirement.service_types


@dataclass
class TreeNode:
    section: Section
    children: list[TreeNode] = field(default_factory=list)
    items: list[Requirement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items) + sum(child.count for child in self.children)


def build_tree(sections: list[Section], requirements: list[Requirement]) -> list[TreeNode]:
    """Chapters → sections → items, keeping only the branches that hold at least one of `requirements`."""
    nodes = {s.ref: TreeNode(s) for s in sections}
    roots = []
    for section in sections:
        parent = nodes.get(section.parent_ref) if section.parent_ref else None
        (parent.children if parent else roots).append(nodes[section.ref])
    for requirement in requirements:
        if requirement.section in nodes:
            nodes[requirement.section].items.append(requirement)

    def prune(branch: list[TreeNode]) -> list[TreeNode]:
        kept = []
        for node in branch:
            node.children = prune(node.children)
            if node.count:
                kept.append(node)
        return kept

    return prune(roots)
