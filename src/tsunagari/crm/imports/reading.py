"""Reading an uploaded CSV: its encoding and delimiter, its rows, and the stored copy."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from tsunagari.crm.models import ImportJob
from tsunagari.crm.services import CrmError


class ImportFileError(CrmError):
    """The uploaded file cannot be imported; the message says why and what to do."""


def decode(data: bytes) -> tuple[str, str]:
    """(encoding, text): UTF-8 with BOM, else strict UTF-8, else strict CP932 (Excel in Japan)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            _(
                "This file is UTF-16 (Excel's “Unicode text”). Save it as “CSV UTF-8” or “CSV” "
                "and upload it again."
            )
        )
    candidates = ("utf-8-sig",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "cp932")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # NUL never appears in text: this is a binary file or UTF-16 without its BOM.
        if "\x00" in text:
            break
        return encoding, text
    raise ImportFileError(_("Cannot read the file: save it as UTF-8 or Shift_JIS (CSV)."))


def detect_delimiter(text: str) -> str:
    """Tab or comma, whichever the header line has more of (csv.Sniffer guesses wrong too often)."""
    header = text.split("\n", 1)[0]
    return "\t" if header.count("\t") > header.count(",") else ","


def _parse(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, the header being row 1, cells) of every record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for cells in reader:
            number += 1
            yield number, cells
    except csv.Error as exc:
        raise ImportFileError(
            _("Row %(row)s cannot be read (%(error)s). Is a double quote missing?")
            % {"row": number + 1, "error": exc}
        ) from None


def _blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _headers(cells: list[str]) -> list[str]:
    """Column names, made unique and never empty so that a mapping can name each column."""
    headers: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = cell.replace("\ufeff", "").strip() or _("Column %(number)s") % {"number": index}
        unique, n = name, 2
        while unique in headers:
            unique, n = f"{name} ({n})", n + 1
        headers.append(unique)
    return headers


def inspect_text(text: str, delimiter: str) -> tuple[list[str], int]:
    """(headers, number of data rows); ImportFileError for an empty or ragged file."""
    rows = _parse(text, delimiter)
    first = next(rows, None)
    if first is None:
        raise ImportFileError(_("The file is empty."))
    if _blank(first[1]):
        raise ImportFileError(_("The first row must hold the column names, and it is empty."))
    headers = _headers(first[1])
    width = len(headers)
    count, ragged = 0, []
    for number, cells in rows:
        if _blank(cells):
            continue
        count += 1
        # Trailing empty cells past the last column are harmless (Excel writes them).
        if len(cells) > width and not _blank(cells[width:]):
            ragged.append(number)
    if ragged:
        raise ImportFileError(
            _(
                "%(count)s rows have more values than there are column names (rows %(rows)s). "
                "A value containing a comma or a line break must be in double quotes."
            )
            % {"count": len(ragged), "rows": ", ".join(str(n) for n in ragged[:10])}
        )
    if count == 0:
        raise ImportFileError(_("The file has column names but no rows."))
    return headers, count


def stored_file(job: ImportJob) -> Path:
    return Path(settings.UPLOAD_DIR) / job.stored_path


def job_rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    """The job's data rows in file order (blank rows left out), each as wide as the header."""
    try:
        data = stored_file(job).read_bytes()
    except FileNotFoundError:
        raise CrmError(_("The uploaded file is no longer there; upload it again.")) from None
    width = len(job.headers)
    rows = _parse(data.decode(job.encoding), job.delimiter)
    next(rows, None)
    for number, cells in rows:
        if _blank(cells):
            continue
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        yield number, cells[:width]


def import_sample(*, job: ImportJob, rows: int = 3) -> list[list[str]]:
    """The first few data rows, for the mapping page; reads only the start of the file."""
    with stored_file(job).open("rb") as handle:
        head = handle.read(256 * 1024)
        final = len(head) < 256 * 1024
    decoder = codecs.getincrementaldecoder(job.encoding)(errors="replace")
    sample: list[list[str]] = []
    parsed = _parse(decoder.decode(head, final=final), job.delimiter)
    next(parsed, None)
    for _number, cells in parsed:
        if not _blank(cells):
            sample.append(cells + [""] * (len(job.headers) - len(cells)))
        if len(sample) == rows:
            break
    return sample
