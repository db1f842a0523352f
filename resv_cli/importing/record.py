"""A normalised legacy record: its fields, its duplicate keys, its rejects, the counts.

R is the tuple a record becomes: ``R_FIELDS``, the columns of the registrants
table it gives, and ``CONTENT_IDX``, the fields that are its content (the row
layout is defined by ``resv_cli.records.migration``, which stores it).  Two
keys find duplicates:

- L, the legacy registration number: ``legacy_key``;
- P, the search key of the name + date of birth (or the group name): ``person_key``;
  the importer puts the date's blind index in it (what stored rows hold: ``dob_bidx``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resv_cli.core.i18n import _
from resv_cli.records.fields import GAIJI_REASON
from resv_cli.records.migration import CONTENT_IDX, R_FIELDS

__all__ = [
    "CONTENT_IDX",
    "DUP_LEGACY",
    "DUP_PERSON",
    "GAIJI_REASON",
    "R_FIELDS",
    "Counts",
    "Reject",
    "legacy_key",
    "person_key",
    "person_match",
]

Reject = tuple[str, str]  # (column label, reason)

# the column a duplicate is reported under, by the key that found it
DUP_LEGACY = "登録番号"
DUP_PERSON = "氏名+生年月日"


@dataclass
class Counts:
    records_read: int = 0
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    duplicates: int = 0
    unchanged: int = 0
    # not imported by design: a deleted registration (the legacy status says so)
    skipped: int = 0

    def add(self, other: Counts) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def reconciled(self) -> bool:
        return self.records_read == (
            self.imported
            + self.updated
            + self.rejected
            + self.duplicates
            + self.unchanged
            + self.skipped
        )

    def reconciliation(self) -> str:
        """The reconciliation line: every record read is one of the outcomes.

        Skipped records (deleted registrations) are named when there are any.
        """
        line = _(
            "{read} read = {imported} imported + {updated} updated + {unchanged} unchanged + "
            "{duplicates} duplicates + {rejected} rejected"
        ).format(
            read=self.records_read,
            imported=self.imported,
            updated=self.updated,
            unchanged=self.unchanged,
            duplicates=self.duplicates,
            rejected=self.rejected,
        )
        if self.skipped:
            line += _(" + {skipped} skipped").format(skipped=self.skipped)
        return line


def legacy_key(legacy: str) -> str:
    """The L key of a registration number."""
    return "L\x1f" + legacy


def person_key(name_key: str, dob: Any, kind: str) -> str:
    """The P key of a name key, a date of birth (its blind index, ISO text or None), a kind."""
    return f"{kind}\x1f{name_key}\x1f{'' if dob is None else dob}"


def person_match(r: tuple[Any, ...]) -> str:
    """What a P-key duplicate of the record R shares with the other record."""
    if r[0] == "group":
        return _("same group name")
    if r[6] is not None:
        return _("same name and date of birth")
    return _("same name, no date of birth")
