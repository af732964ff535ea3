"""Sovereignty registers of chapter 19 (seats, shareholding, third parties, links with foreign public bodies,
changes and the notices customers got of them, localisation) and their checks.

The checks themselves are pure (evidence.core.rules.sovereignty); this package reads and writes the registers,
every change audited, and validates each register once (the web forms and the demo loader call it). A change that
matters to customers is recorded in the register of changes and plans the "inform customers" action (19.6.f).
One module per register family; callers use the names below (`from evidence.services import sovereignty`).
"""
from evidence.services.sovereignty.declarations import (
    ChangeData,
    ForeignLinkData,
    add_notice,
    declare_no_foreign_links,
    save_change,
    save_foreign_link,
)
from evidence.services.sovereignty.localisation import add_data_location, add_operation, add_site
from evidence.services.sovereignty.provider import (
    HolderData,
    SubcontractorData,
    save_holder,
    save_subcontractor,
    set_seat,
    subcontractor_values,
)
from evidence.services.sovereignty.registers import (
    CHANGE_ON_DELETE,
    COUNTRY_RE,
    INFORM_ITEM,
    MAX_CHANGE,
    Registers,
    all_perimeters,
    checks,
    country,
    delete_row,
    eu,
    eu_members,
    failures,
    holder_facts,
    inform,
    names,
    one_month_after,
    percent_to_bp,
    registers,
    row_label,
    row_values,
    third_party,
)

__all__ = [
    "ChangeData", "ForeignLinkData", "add_notice", "declare_no_foreign_links", "save_change", "save_foreign_link",
    "add_data_location", "add_operation", "add_site",
    "HolderData", "SubcontractorData", "save_holder", "save_subcontractor", "set_seat", "subcontractor_values",
    "CHANGE_ON_DELETE", "COUNTRY_RE", "INFORM_ITEM", "MAX_CHANGE", "Registers", "all_perimeters", "checks", "country", "delete_row", "eu",
    "eu_members", "failures", "holder_facts", "inform", "names", "one_month_after", "percent_to_bp", "registers",
    "row_label", "row_values", "third_party",
]
