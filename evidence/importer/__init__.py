"""Bulk evidence import: a manifest (CSV or XLSX) whose rows name files under a folder, or links.

    evidence import MANIFEST --root DIR [--dry-run] [--atomic] [--report FILE.csv] [--as EMAIL]

Three stages; the first two write nothing:

1. read (`manifest`): the manifest's rows as plain values with their row numbers (`read_manifest`, pure).
2. check (`rows`, `plan`): every row is validated against the folder and against what the database knows,
   loaded once into a `Known` snapshot (`validate_row`, pure but for looking at the files). A new-evidence row
   is judged by the evidence service's `check_evidence`, the rule the web form obeys, with `Known` as its
   lookup. Then planned: new evidence, new version, unchanged or error (`plan`, pure given a way to hash a
   file). A file is hashed at this stage only when its outcome depends on it: when it has the size of the
   version it could be identical to.
3. apply (`apply`): worker threads store the files (hashed while copied, in one pass, by the service's
   `store_upload`, into the store's `batch()`, which defers the waits for the disk); when a batch of rows is
   complete, a sync thread makes its files durable (`BlobBatch.sync`: for the local store, every file fsynced
   in parallel, then linked under its hash, then each folder that gained a name fsynced once; from 16 files,
   a sync of the whole filesystem before the links and one after stand for those fsyncs) while the main
   thread writes the batch before it, each row with its audit event attributed to the importing user
   (`write_batch`). Per-row mode commits batch by batch, and retries a batch the database refuses row by row,
   so that only the faulty row fails: rows land or fail one by one, as if each committed on its own, at a
   fraction of the cost. `--atomic` stores every file first, syncs them, then writes every row in one
   transaction. `report` says what happened.

Why batches and not `create_evidence` per row: through the ORM one evidence costs about 2 ms of database
work, twice the whole budget of the 1,000 files per second a bulk import must reach. `write_batch` makes the
same rows and audit events as `create_evidence` / `add_version` (reference and version numbering, back to
draft on a new version, audit details from the service's `creation_details` / `version_details`,
`audit.record_many` for the chain) with one multi-row INSERT per table and batch; both modes use it. It
judges nothing: the fields come as `check_evidence` passed them.

Idempotence: a row with `ref` is unchanged when the evidence's current version has the same SHA-256 (or
address); a row without `ref` when an evidence with the same title has a current version with the same
SHA-256 (or address). So running a manifest again writes nothing, and completes an interrupted run. (For
this to hold, an evidence may take one new version per manifest, and a row without `ref` never matches an
evidence that another row of the manifest gives a new version.)

Interruptions: a blob is complete and fsynced before it is linked under its hash, and the link and its folders
are fsynced before any row that refers to it commits; a crash, kill or Ctrl-C at any point leaves at most
unreferenced blobs and temporary files, never a row that points to a missing or incomplete blob, and loses at
most the two open batches (the one being synced and the one being written: 200 rows or half a second each).
"""
from evidence.importer.apply import Progress, default_workers, run_import
from evidence.importer.manifest import (
    COLUMNS,
    EXAMPLE_ROW,
    METADATA_COLUMNS,
    ManifestLimits,
    ManifestRow,
    parse_csv,
    parse_xlsx,
    read_manifest,
    write_template,
)
from evidence.importer.plan import (
    DONE,
    ERROR,
    FAILED,
    NEW_EVIDENCE,
    NEW_VERSION,
    NOT_IMPORTED,
    PLANNED,
    UNCHANGED,
    ImportResult,
    RowOutcome,
    plan,
)
from evidence.importer.report import REPORT_COLUMNS, describe, error_lines, summary, write_report
from evidence.importer.rows import (
    CurrentVersion,
    Entry,
    Known,
    KnownEvidence,
    RowError,
    SourceFile,
    check_file,
    hash_file,
    load_known,
    parse_date,
    resolve_actor,
    show_value,
    split_refs,
    validate_row,
)

__all__ = [
    "COLUMNS", "DONE", "ERROR", "EXAMPLE_ROW", "FAILED", "METADATA_COLUMNS",
    "NEW_EVIDENCE", "NEW_VERSION", "NOT_IMPORTED", "PLANNED", "REPORT_COLUMNS", "UNCHANGED", "CurrentVersion",
    "Entry", "ImportResult", "Known", "KnownEvidence", "ManifestLimits", "ManifestRow", "Progress", "RowError", "RowOutcome",
    "SourceFile", "check_file", "default_workers", "describe", "error_lines", "hash_file", "load_known",
    "parse_csv", "parse_date", "parse_xlsx", "plan", "read_manifest", "resolve_actor", "run_import", "show_value",
    "split_refs", "summary", "validate_row", "write_report", "write_template",
]
