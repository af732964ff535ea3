"""The qualification dossier: a frozen snapshot of a perimeter, rendered to PDF/A-3, approved by two people,
signed.

- snapshot: everything the dossier shows, as plain data with the evidence versions pinned;
- view: that snapshot arranged for the template, and cut into parts that each start on a new page;
- pdf: the HTML and its layout (render/: in parts, in parallel, cached, merged into one PDF/A-3 with one
  subset per font and the pinned files attached); diagrams: the architecture images, checked and re-encoded;
- generate: a version's life: queue it, render the draft, render the approved version, sign it;
- history, diff: the earlier versions and what changed between two snapshots;
- signing: PAdES signatures and their check; verify: re-hash the stored PDFs and check their signatures;
- bundle: the zip for the evaluator (the dossier, the pinned files, a manifest whose hash the dossier
  records) and its offline check.

Nothing here reads the Flask application: the boundaries (web/dossiers.py, the CLI, jobs.py) hand in the
session, the store and a pdf.DossierSettings (evidence.context.dossier_settings builds it).
"""
