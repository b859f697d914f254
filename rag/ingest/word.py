"""Reading a Word (`.docx`) file into text, with python-docx: paragraphs and headings in the
order the document has them, a table as one line per row (cells between " | "), and the title
and date of its core properties.

A `.docx` file is a zip archive: it is checked before it is opened, so that a file that is not
one, or one that would unpack to more than the limit (a zip bomb), is refused with its reason.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from xml.etree import ElementTree

from rag.ingest.dates import parse_date

_CORE = "docProps/core.xml"
_BODY = "word/document.xml"
_DC = "http://purl.org/dc/elements/1.1/"
_TERMS = "http://purl.org/dc/terms/"


class WordError(Exception):
    """The file cannot be read as a Word document; the message says why."""


@dataclass(frozen=True)
class WordText:
    text: str
    title: str | None
    date: str | None


def _check_archive(data: bytes, max_unpacked: int) -> bytes | None:
    """The core properties (XML) of the zip archive `data`, if it has them, once it is known
    to be a Word document that unpacks to at most `max_unpacked` bytes."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
        start = data[:8].decode("latin-1").encode("unicode_escape").decode()
        raise WordError(
            f"not a Word .docx file (not a zip archive: it starts with {start!r}); a .doc file "
            "of Word 97-2003 must be saved as .docx first"
        ) from exc
    with archive:
        names = set(archive.namelist())
        if _BODY not in names:
            raise WordError(f"a zip archive without {_BODY}: not a Word .docx document")
        unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > max_unpacked:
            raise WordError(
                f"a .docx that unpacks to {unpacked:,} bytes, more than the {max_unpacked:,} "
                "allowed (RAG_MAX_UNPACKED_BYTES)"
            )
        try:
            return archive.read(_CORE) if _CORE in names else None
        # zipfile's own errors, and NotImplementedError for a header it cannot read (a
        # "version 24.5" or flag bit that a damaged file claims)
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError,
                NotImplementedError) as exc:  # fmt: skip
            raise WordError(f"a damaged .docx file ({_CORE}: {exc})") from exc


def _core_properties(xml: bytes | None) -> tuple[str | None, str | None]:
    """The title and the creation (else modification) date of core properties. Read here, not
    by python-docx: LibreOffice's relationship to them is one python-docx does not follow, and
    it then makes up a title, "Word Document"."""
    if xml is None:
        return None, None
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None, None
    title = (root.findtext(f"{{{_DC}}}title") or "").strip() or None
    when = root.findtext(f"{{{_TERMS}}}created") or root.findtext(f"{{{_TERMS}}}modified") or ""
    try:
        date = parse_date(when.strip()[:10]) if when.strip() else None
    except ValueError:
        date = None
    return title, date


def _rows(table: object) -> list[str]:
    lines = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # a merged cell repeats itself
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return lines


def read_docx(data: bytes, max_unpacked: int) -> WordText:
    """The text, title and date of the `.docx` file `data`. Raises WordError for what is not
    a readable Word document."""
    core = _check_archive(data, max_unpacked)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises what lxml and zipfile raise, unwrapped
        raise WordError(f"a damaged .docx file ({type(exc).__name__}: {exc})") from exc
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.append("\n".join(_rows(item)))
        else:
            blocks.append(item.text)
    title, date = _core_properties(core)
    return WordText("\n".join(blocks), title, date)
