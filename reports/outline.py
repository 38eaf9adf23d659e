"""The PDF's outline (bookmarks: one per page, by its title), which matplotlib cannot write.

Added by pypdf as an incremental update: the pages matplotlib wrote stay byte for byte, followed by a new catalog
that points to the outline. Nothing in it depends on the clock (pypdf's file identifier is a checksum of the file),
so the same pages give the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject


def add_outline(path: Path, entries: list[tuple[str, int]]) -> Path:
    """Rewrite the PDF at `path` with one bookmark per (title, page index from 0), opening on the outline."""
    source = Path(path).read_bytes()
    writer = PdfWriter(io.BytesIO(source), incremental=True)
    for title, page in entries:
        writer.add_outline_item(title, page)
    writer.page_mode = "/UseOutlines"
    # the update's cross-reference is a stream (PDF 1.5); matplotlib's header says 1.4
    writer._root_object[NameObject("/Version")] = NameObject("/1.5")
    out = io.BytesIO()
    writer.write(out)
    Path(path).write_bytes(out.getvalue())
    return Path(path)


def read_outline(path: Path) -> list[tuple[str, int]]:
    """(title, page index from 0) of each bookmark of a PDF, in order."""
    reader = PdfReader(str(path))
    return [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
