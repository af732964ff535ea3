"""The referential: the product's catalogues (controls/*.yaml) and CISO Assistant library imports.

format: the product's YAML, parsed and checked without the database; load: catalogues upserted into it;
ciso_assistant: library imports (framework, official-text overlay, mapping); browse: search and the tree.
Callers use the names below (`catalogue.load_catalogues`, …), not the modules.
"""
from evidence.catalogue.browse import TreeNode, applies_to, build_tree, fold, search, searchable_text
from evidence.catalogue.ciso_assistant import MAX_LIBRARY_BYTES, ImportReport, import_library
from evidence.catalogue.format import (
    LIMITS,
    CatalogueError,
    CatalogueSpec,
    ExpectedEvidence,
    ItemSpec,
    LinkSpec,
    SectionSpec,
    default_catalogue_paths,
    parse_catalogue,
)
from evidence.catalogue.load import LoadReport, load_catalogues

__all__ = [
    "LIMITS",
    "MAX_LIBRARY_BYTES",
    "CatalogueError",
    "CatalogueSpec",
    "ExpectedEvidence",
    "ImportReport",
    "ItemSpec",
    "LinkSpec",
    "LoadReport",
    "SectionSpec",
    "TreeNode",
    "applies_to",
    "build_tree",
    "default_catalogue_paths",
    "fold",
    "import_library",
    "load_catalogues",
    "parse_catalogue",
    "search",
    "searchable_text",
]
