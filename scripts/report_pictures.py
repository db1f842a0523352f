"""Render a picture of each sheet of a real monthly report for docs/guide-monitor-report.md.

Builds a sample database (the benchmark's seeding with 12 accounts and 600 events in
May 2026, plus a few accounts that raise every kind of flag), writes the report with
`resv report monthly`, converts it to PDF with LibreOffice (soffice --headless) and
turns the first page of each sheet into a PNG with pdftoppm (poppler-utils).

    .venv/bin/python scripts/report_pictures.py [docs/img]

Needs: apt-get install libreoffice-calc poppler-utils fonts-noto-cjk
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_report as bench  # noqa: E402

RESV = str(Path(sys.executable).with_name("resv"))


def sample_db(work: Path, env: dict[str, str]) -> None:
    bench.ACCOUNTS = 12
    bench.seed(work / "sample.db", env, 600)
    conn = sqlite3.connect(work / "sample.db")
    now = "2026-04-01 00:00:00.000000"
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES ('bulk_view_threshold', '8', ?)",
        (now,),
    )
    # most staff trained this year; staff001 and staff002 not
    for (acc_id,) in conn.execute(
        "SELECT id FROM accounts WHERE login_id LIKE 'staff%' AND login_id NOT IN"
        " ('staff001', 'staff002')"
    ).fetchall():
        conn.execute(
            "INSERT INTO training_records (account_id, course, completed_on, created_at)"
            " VALUES (?, '個人情報保護研修 2026', '2026-04-15', ?)",
            (acc_id, now),
        )
    org = conn.execute("SELECT id FROM organizations WHERE code = 'bench-fm'").fetchone()[0]
    fac = conn.execute("SELECT id FROM facilities WHERE code = 'fac-1'").fetchone()[0]
    extra = [
        ("temp-01", None, "2026-03-31", None),  # not on roster, expired
        ("old-02", None, None, "2025-12-01 01:00:00.000000"),  # not on roster, dormant
    ]
    for login, _, until, last in extra:
        conn.execute(
            "INSERT INTO accounts (login_id, display_name, organization_id, role, facility_id,"
            " status, valid_until, last_login_at, failed_attempts, lock_count,"
            " must_change_password, created_at, updated_at)"
            " VALUES (?, ?, ?, 'operator', ?, 'active', ?, ?, 0, 0, 0, ?, ?)",
            (login, f"臨時 {login}", org, fac, until, last, now, now),
        )
    conn.execute(
        "INSERT INTO import_batches (kind, file_name, file_sha256, facility_id, organization_id,"
        " status, records_read, imported, updated, rejected, duplicates, unchanged, checkpoint,"
        " started_at, finished_at) VALUES ('registrants', '旧台帳_中央老人福祉センター.csv', ?,"
        " ?, ?, 'completed', 1200, 1180, 0, 12, 8, 0, 1200, '2026-05-07 01:00:00.000000',"
        " '2026-05-07 01:02:10.000000')",
        ("3f" * 32, fac, org),
    )
    conn.commit()
    conn.close()


def main() -> None:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "img")
    dest.mkdir(parents=True, exist_ok=True)
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice or not shutil.which("pdftoppm"):
        raise SystemExit("needs soffice (libreoffice-calc) and pdftoppm (poppler-utils)")
    work = Path(tempfile.mkdtemp(prefix="report-pictures-"))
    try:
        env = dict(
            os.environ,
            RESV_DATABASE_URL=f"sqlite:///{work / 'sample.db'}",
            RESV_CONFIG_DIR=str(work / "config"),
            HOME=str(work),
        )
        sample_db(work, env)
        xlsx = work / "monitoring-2026-05.xlsx"
        subprocess.run(
            [RESV, "report", "monthly", "--month", "2026-05", "--org", "bench-fm", "-o", str(xlsx)],
            env=env,
            check=True,
        )
        subprocess.run(
            [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(work), str(xlsx)],
            env=env,
            check=True,
            capture_output=True,
        )
        pdf = xlsx.with_suffix(".pdf")
        pages = int(
            next(
                line.split()[-1]
                for line in subprocess.run(
                    ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
                ).stdout.splitlines()
                if line.startswith("Pages:")
            )
        )
        from openpyxl import load_workbook

        sheets = load_workbook(xlsx, read_only=True).sheetnames
        first_page: dict[str, int] = {}
        for page in range(1, pages + 1):
            text = subprocess.run(
                ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for name in sheets:
                # the footer is "&A  &P / &N": the sheet's name and a page number
                footer = re.compile(re.escape(name) + r"\s+\d+ / \d+")
                if name not in first_page and footer.search(text):
                    first_page[name] = page
        for i, name in enumerate(sheets, 1):
            page = first_page.get(name)
            if page is None:
                print(f"no page found for sheet {name}", file=sys.stderr)
                continue
            out = dest / f"report-{i}"
            subprocess.run(
                ["pdftoppm", "-png", "-r", "110", "-f", str(page), "-l", str(page),
                 "-singlefile", str(pdf), str(out)],
                check=True,
            )  # fmt: skip
            print(f"{name}: page {page} -> {out}.png")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
