"""The anchor a monthly report holds: the audit chain head printed on its cover.

Every ``resv report monthly`` writes the head of the audit history (its sequence
number and MAC) on the cover sheet and in its ``report.export`` event.  The
monitors keep the reports, so each one is an anchor held outside the database:
``resv audit verify --anchor-from REPORT.xlsx`` reads it back from here and checks
that event still exists with that MAC (a cut-off tail, or a rewritten history,
shows).  The cover is found by its headings in either report language
(``labels``), so a report in Japanese or English reads the same way.
"""

from __future__ import annotations

from pathlib import Path

from resv_cli.audit.verify import Anchor
from resv_cli.core.errors import InputError
from resv_cli.core.i18n import _
from resv_cli.reports.labels import LANGS, Labels

HEX = frozenset("0123456789abcdef")


def read_report_anchor(path: Path) -> Anchor:
    """Return the chain head printed on ``path``'s cover; refuse a file that has none."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    every = [Labels(lang) for lang in LANGS]
    seq_labels = {L("chain_head_seq") for L in every}
    hash_labels = {L("chain_head_hash") for L in every}
    cover_names = {L("sheet.cover") for L in every}
    from openpyxl.utils.exceptions import InvalidFileException

    if not path.is_file():  # openpyxl judges the name's extension before the file
        raise InputError(_("{path}: no such report file").format(path=path))
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise InputError(_("{path}: no such report file").format(path=path)) from None
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise InputError(_("{path}: not an xlsx monthly report").format(path=path)) from None
    try:
        cover = next((wb[n] for n in wb.sheetnames if n in cover_names), None)
        if cover is None:
            raise InputError(
                _("{path}: no cover sheet ({names})").format(
                    path=path, names=" / ".join(sorted(cover_names))
                )
            )
        seq = digest = None
        for row in cover.iter_rows(min_col=1, max_col=2, values_only=True):
            if not row or row[0] is None:
                continue
            head = str(row[0]).strip()
            value = row[1] if len(row) > 1 else None
            if head in seq_labels:
                seq = value
            elif head in hash_labels:
                digest = value
    finally:
        wb.close()
    if isinstance(seq, str) and seq.strip().isdigit():
        seq = int(seq.strip())
    if type(seq) is not int or seq < 0:
        raise InputError(_("{path}: the cover has no chain head number (seq)").format(path=path))
    text_hash = str(digest or "").strip().lower()
    if len(text_hash) != 64 or not set(text_hash) <= HEX:
        raise InputError(
            _("{path}: the cover has no 64-character chain head hash").format(path=path)
        )
    return Anchor(seq, text_hash, source=path.name)
