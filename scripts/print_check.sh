#!/usr/bin/env bash
# make print-check: print a demo monthly report through LibreOffice and look at it.
#
#   scripts/print_check.sh [OUTDIR]            (default: print-check/)
#   DOCS_IMG=docs/img scripts/print_check.sh   (also refresh the monitor guide's pictures)
#
# Builds a sample month (scripts/report_pictures.py's database: 12 staff, 600 events
# in May 2026, accounts that raise every kind of flag; here the events follow office
# hours, quieter at weekends, a few at night), writes the report in Japanese
# (`resv report monthly --month 2026-05 --org bench-fm`), converts it to PDF with
# LibreOffice headless (`soffice --headless --convert-to pdf`) and renders every
# page with pdftoppm:
#
#   OUTDIR/report.xlsx, OUTDIR/report.pdf
#   OUTDIR/page-NN.png       every printed page (72 dpi)
#   OUTDIR/report-N.png      the first page of the N-th sheet (110 dpi; the guide's pictures)
#
# Needs LibreOffice Calc, poppler-utils and the report's font (BIZ UDゴシック); where one
# is missing it says what to install and exits 1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-print-check}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
INSTALL="apt-get install -y libreoffice-calc poppler-utils fonts-morisawa-bizud-gothic"

SOFFICE=$(command -v soffice || command -v libreoffice || true)
if [ -z "$SOFFICE" ]; then
    echo "print-check: LibreOffice (soffice) is not installed. On Debian/Ubuntu:" >&2
    echo "  $INSTALL" >&2
    exit 1
fi
if ! command -v pdftoppm >/dev/null || ! command -v pdftotext >/dev/null; then
    echo "print-check: pdftoppm/pdftotext (poppler-utils) are not installed. On Debian/Ubuntu:" >&2
    echo "  $INSTALL" >&2
    exit 1
fi
if ! fc-list : family 2>/dev/null | grep -q "BIZ UDGothic"; then
    echo "print-check: the report's font BIZ UDゴシック (BIZ UDGothic) is not installed;" >&2
    echo "LibreOffice would print another font in its place. On Debian/Ubuntu:" >&2
    echo "  $INSTALL" >&2
    exit 1
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/print-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export RESV_DATABASE_URL="sqlite:///$WORK/sample.db" RESV_CONFIG_DIR="$WORK/config"
export HOME="$WORK" RESV_LANG=ja

# -- the sample month ------------------------------------------------------------------
RESV_ROOT="$ROOT" "$PYTHON" - "$WORK" <<'PY'
import datetime as dt
import os
import random
import sys
from pathlib import Path

root = Path(os.environ.get("RESV_ROOT", Path.cwd()))
sys.path[:0] = [str(root / "scripts"), str(root / "bench")]
import bench_report as bench  # noqa: E402
import report_pictures  # noqa: E402

work = Path(sys.argv[1])
N = 600
days = [dt.date(2026, 5, 1) + dt.timedelta(days=d) for d in range(31)]
weights = [0.25 if d.weekday() == 6 else 0.5 if d.weekday() == 5 else 1.0 for d in days]
per_day = [int(N * w / sum(weights)) for w in weights]
per_day[0] += N - sum(per_day)
rnd = random.Random(16)
times: list[dt.datetime] = []
for day, count in zip(days, per_day):
    minutes = []
    for _ in range(count):
        r = rnd.random()
        if r < 0.80:  # the counters' day
            m = rnd.randrange(9 * 60, 17 * 60)
        elif r < 0.95:  # evening classes, until 21:00
            m = rnd.randrange(17 * 60, 21 * 60)
        else:  # before opening, after closing: what the heat map shows in red
            m = rnd.choice([rnd.randrange(6 * 60, 9 * 60), rnd.randrange(21 * 60, 24 * 60)])
        minutes.append(m * 60 + rnd.randrange(60))
    for s in sorted(minutes):
        local = dt.datetime.combine(day, dt.time(0), tzinfo=bench.JST) + dt.timedelta(seconds=s)
        times.append(local.astimezone(dt.UTC))
uniform = bench.event


def office_hours(i: int, n: int):  # the same events, at office-hours times
    e = uniform(i, n)
    return (e[0], times[i * len(times) // n], *e[2:])


bench.event = office_hours
os.environ["RESV_CONFIG_DIR"] = str(work / "config")
report_pictures.sample_db(work, dict(os.environ))
PY

# -- the report, printed -----------------------------------------------------------------
RESV=$(dirname "$PYTHON")/resv
rm -f "$OUT/report.xlsx"
"$RESV" report monthly --month 2026-05 --org bench-fm --output "$OUT/report.xlsx" >/dev/null
"$SOFFICE" --headless --convert-to pdf --outdir "$WORK" "$OUT/report.xlsx" >/dev/null 2>&1
mv "$WORK/report.pdf" "$OUT/report.pdf"
rm -f "$OUT"/page-*.png "$OUT"/report-*.png
pdftoppm -png -r 72 "$OUT/report.pdf" "$OUT/page"

# the first page of each sheet: the footer is "<sheet>  <page> / <pages>"
"$PYTHON" - "$OUT" <<'PY'
import re
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

out = Path(sys.argv[1])
pdf = out / "report.pdf"
info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
names = load_workbook(out / "report.xlsx", read_only=True).sheetnames
first: dict[str, int] = {}
for page in range(1, pages + 1):
    text = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in names:
        if name not in first and re.search(re.escape(name) + r"\s+\d+ / \d+", text):
            first[name] = page
for i, name in enumerate(names, 1):
    page = first.get(name)
    if page is None:
        sys.exit(f"print-check: no printed page for sheet {name}")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-f", str(page), "-l", str(page), "-singlefile",
         str(pdf), str(out / f"report-{i}")],
        check=True,
    )  # fmt: skip
    print(f"  {name}: page {page} -> {out / f'report-{i}.png'}")
print(f"print-check: {pages} pages in {pdf}")
PY

if [ -n "${DOCS_IMG:-}" ]; then
    rm -f "$DOCS_IMG"/report-*.png
    cp "$OUT"/report-*.png "$DOCS_IMG"/
    echo "print-check: pictures copied to $DOCS_IMG"
fi
