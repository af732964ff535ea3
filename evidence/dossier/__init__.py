"""The qualification dossier: a frozen snapshot of a perimeter, rendered to PDF.

- snapshot: everything the dossier shows, as plain data with the evidence versions pinned;
- view: that snapshot arranged for the template, and cut into parts that each start on a new page;
- generate: queue a dossier, render it (render/: in parts, in parallel, cached, merged) and store the PDF;
- verify: re-hash the stored PDFs;
- bundle: the zip for the evaluator (the dossier, the pinned files, a manifest) and its offline check.

Nothing here reads the Flask application: the boundaries (web/dossiers.py, the CLI, jobs.py) hand in the
session, the store and a generate.DossierSettings (evidence.context.dossier_settings builds it).
"""
