"""The sheet interface (described in the package docstring)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from resv_cli.reports.context import ReportContext


@dataclass(frozen=True)
class Col:
    """One column of a table: the label key of its heading and its width (Excel's units)."""

    key: str
    width: float
    numeric: bool = False  # numbers: the heading is right-aligned over them
    wrap: bool = False  # long text: wraps, the row grows to show it whole
    choices: tuple[str, ...] = ()  # label keys of a drop-down list's entries


def num(key: str, width: float = 10) -> Col:
    return Col(key, width, numeric=True)


Columns = tuple[Col, ...]


class Table(ABC):
    """A table: a header row of ``columns``, then ``rows(ctx)``, on one sheet or more."""

    key: ClassVar[str]  # label key of the sheet's name, e.g. "sheet.accounts"
    counted_as: ClassVar[str]  # its entry in the "rows" of the report.export event
    columns: ClassVar[Columns]
    # continue on "<name> (2)", ... past --max-rows (the others stop at Excel's limit)
    split: ClassVar[bool] = False

    @abstractmethod
    def rows(self, ctx: ReportContext) -> Iterable[Sequence[Any]]:
        """The rows in order (plain values; the writer makes them inert and styled)."""


class Page(ABC):
    """A sheet laid out freely (the cover), drawn after every table."""

    key: ClassVar[str]  # label key of the sheet's name, e.g. "sheet.cover"

    @abstractmethod
    def write(self, ctx: ReportContext, ws: Any) -> None:
        """Draw the sheet on ``ws``, a write-only worksheet."""


Sheet = Table | Page
