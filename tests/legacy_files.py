"""Legacy files for the import tests: the common header, a cp932 CSV writer, reading back.

Shared by the import test modules (a test module never imports from another).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HEADER = ["区分", "登録番号", "氏名", "フリガナ", "生年月日", "郵便番号", "住所", "電話番号",
          "緊急連絡先氏名", "緊急連絡先電話番号", "団体名", "代表者氏名"]  # fmt: skip

def write_csv(path: Path, rows: list[list[str]], encoding: str = "cp932") -> Path:
    lines = []
    for row in [HEADER, *rows]:
        lines.append(
            ",".join(
                '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v for v in row
            )
            + ","
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def registrants(inst: Any) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in inst.clear_rows(
            "SELECT legacy_no, kind, name, name_key, kana, kana_key, date_of_birth, postal_code, "
            "address, phone, phone_digits, phone_extension, emergency_name, emergency_phone, "
            "representative_name FROM registrants ORDER BY legacy_no"
        )
    ]


def run_import(cli: Any, path: Path, *args: str) -> Any:
    return cli("import", "registrants", str(path), "--facility", "chuo-rojin", *args)
