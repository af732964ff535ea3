"""Rendering the dossier in parts: laid out in parallel processes, reused when unchanged, merged into one PDF.

One WeasyPrint pass lays a 230-page dossier out on one core, page after page, in some 700 MB. Here the
document is cut into parts that each start on a new page (the front matter, the overview, the matrix, each
chapter or run of its sections, the gaps and findings, runs of the evidence index), so that a part laid out
on its own is exactly what it is inside the whole document (the test suite compares them page by page).

- fetcher: the only URLs WeasyPrint may load (the package's static files, the pinned evidence blobs).
- parts: one part laid out to PDF, its cache key, and the worker process's loop. A worker is a plain
  interpreter running parts.py alone (not the application), fed HTML, answering PDF bytes.
- cache: each part's PDF kept in the instance folder, keyed by what shapes it. Nothing that belongs to the
  whole dossier is in a part (version number, classification, dates, page numbers), so a new version lays
  out again only the parts whose content changed; the merged dossier's font subsets are kept there too.
- pool: the worker processes and the PartRenderer that hands them the parts missing from the cache.
- merge: what depends on the whole comes last (the front part with the real page numbers in its contents,
  the running texts), and everything is merged with global page numbers, outline and destinations, into a
  PDF/A-3U (XMP metadata, sRGB output intent, attached evidence as associated files) holding one subset of
  each font program instead of one per part.

This package knows nothing of the application: the dossier's HTML is written by evidence.dossier.generate.
"""
