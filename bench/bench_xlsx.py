"""xlsx import against a bare python-calamine read of the same file, in the same run.

Issue 17's goal: importing a 200,000-row xlsx takes at most 2x a bare
python-calamine read of the same file, and the import's process tree stays under
200 MB.

Once per run (not timed): 200,000 records (BENCH_QUICK=1: 20,000) of
bench/gen_legacy.py, seed 7, written as the cp932 CSV ``generate`` writes and,
the same records read back from it, as a workbook written by openpyxl in
write-only mode, every field a cell as the CSV has it (inline strings, empty
fields as empty strings: about 142 MB of sheet XML at 200,000 records, which
``calamine_plan`` reads in windows; the file reader.py's figures were measured on).  Then, in fresh processes, paired and interleaved, N runs
(3; BENCH_RUNS may raise it) of

  (a) the bare read: ``CalamineWorkbook.from_path(p).get_sheet_by_index(0)``
      and every row of ``iter_rows()`` into Python, as any program using
      calamine must do;
  (b) resv's reader alone: ``open_source(p)`` (zip check, plan, windows) and
      every record, and which plan was taken;
  (c) ``resv import registrants`` of the workbook into a fresh SQLite
      installation (as bench_import.py does: peak PSS of the whole process tree,
      sampled every 20 ms);
  (d) the same import of the CSV holding the same records.

Each process runs under bench_import's launcher (``run_child``): its wall time
(start-up included, and up to one 20 ms sampling interval), its CPU and its
peak memory.  (a) and (b) also time their read alone, inside the process, after
their imports.  The goal's figure is the import's wall time against the bare
read's, both as whole processes; the stricter one against the read alone is
printed beside it.  Ratios are of the medians.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_import import RESV, prepare_resv, run_child  # noqa: E402
from gen_legacy import HEADER, generate  # noqa: E402

SEED = 7  # as bench_import.py and bench_normalise.py
GOAL = 2.0  # issue 17: xlsx import <= 2x a bare calamine read
MEMORY_GOAL_MB = 200

# (a): what any program reading the sheet with calamine must do
_BARE = r"""
import json, sys, time
from python_calamine import CalamineWorkbook
t0, c0 = time.perf_counter(), time.process_time()
sheet = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0)
n = 0
for row in sheet.iter_rows():
    n += 1
out = {"rows": n, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
"""

# (b): resv's reader alone, as the import opens the file
_READER = r"""
import json, sys, time
from pathlib import Path
from resv_cli.importing.reader import XlsxSource, open_source
t0, c0 = time.perf_counter(), time.process_time()
src = open_source(Path(sys.argv[1]))
n = 0
for row in src:
    n += 1
src.close()
out = {"rows": n, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
if isinstance(src, XlsxSource):
    out["plan"] = "openpyxl"
else:
    out["plan"] = "windows" if src._wb is None else "whole"
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
"""


def sizes() -> tuple[int, int]:
    records = 20_000 if os.environ.get("BENCH_QUICK") else 200_000
    runs = max(3, int(os.environ.get("BENCH_RUNS") or 3))
    return records, runs


def write_workbook(csv_path: Path, xlsx_path: Path) -> int:
    """The CSV's records (header first) as a workbook written by openpyxl, write-only."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("registrants")
    n = 0
    with csv_path.open(encoding="cp932", newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            row = row[: len(HEADER)]  # the legacy trailing comma: one empty field more
            if i == 0:
                assert row == HEADER, row
            else:
                n += 1
            ws.append(row)
    wb.save(xlsx_path)
    return n


def sheet_xml_mb(xlsx_path: Path) -> float:
    import zipfile

    with zipfile.ZipFile(xlsx_path) as z:
        sheets = [i.file_size for i in z.infolist() if i.filename.startswith("xl/worksheets/")]
    return max(sheets) / 1e6


def python_child(code: str, path: Path, out: Path) -> dict[str, float | str]:
    """Run a snippet in a fresh interpreter under the launcher; its own and the process figures."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out.unlink(missing_ok=True)
    wall, pss, det = run_child([sys.executable, "-c", code, str(path), str(out)], env)
    inner = json.loads(out.read_text())
    return {
        "rows": inner["rows"],
        "plan": inner.get("plan", ""),
        "read_wall": inner["wall"],
        "read_cpu": inner["cpu"],
        "proc_wall": wall,
        "proc_cpu": det["cpu_s"],
        "rss": det["max_single_rss_mb"],
    }


def import_into_fresh(path: Path, work: Path, tag: str) -> dict[str, float]:
    """``resv import registrants`` of path into a fresh SQLite installation."""
    db = work / f"resv-{tag}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cfg = work / f"cfg-{tag}"
    shutil.rmtree(cfg, ignore_errors=True)
    env = prepare_resv(f"sqlite:///{db}", cfg)
    cmd = [RESV, "import", "registrants", str(path), "--facility", "chuo-rojin"]
    wall, pss, det = run_child(cmd, env)
    con = sqlite3.connect(db)
    try:
        imported = con.execute("SELECT count(*) FROM registrants").fetchone()[0]
    finally:
        con.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(cfg, ignore_errors=True)
    return {
        "wall": wall,
        "pss": pss,
        "rss_sum": det["rss_sum_mb"],
        "cpu": det["cpu_s"],
        "processes": det["processes"],
        "imported": imported,
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> int:
    records, runs = sizes()
    work = Path(tempfile.mkdtemp(prefix="resv-bench-xlsx-"))
    try:
        legacy = work / "legacy.csv"
        book = work / "legacy.xlsx"
        generate(str(legacy), records, "cp932", seed=SEED)
        n = write_workbook(legacy, book)
        assert n == records, (n, records)
        print(f"{records:,} records (gen_legacy, seed {SEED}): cp932 CSV "
              f"{legacy.stat().st_size / 1e6:.0f} MB; xlsx by openpyxl write-only "
              f"{book.stat().st_size / 1e6:.0f} MB, sheet XML {sheet_xml_mb(book):.0f} MB; "
              f"{runs} paired runs, fresh processes", flush=True)  # fmt: skip
        out = work / "child.json"
        bare: list[dict] = []
        reader: list[dict] = []
        xlsx: list[dict] = []
        csv_: list[dict] = []
        for run in range(runs):
            a = python_child(_BARE, book, out)
            b = python_child(_READER, book, out)
            c = import_into_fresh(book, work, f"xlsx-{run}")
            d = import_into_fresh(legacy, work, f"csv-{run}")
            bare.append(a)
            reader.append(b)
            xlsx.append(c)
            csv_.append(d)
            print(f"  run {run + 1}: bare calamine {a['proc_wall']:.2f} s "
                  f"(read {a['read_wall']:.2f} s, CPU {a['read_cpu']:.2f} s, "
                  f"RSS {a['rss']:.0f} MB); reader [{b['plan']}] {b['proc_wall']:.2f} s "
                  f"(read {b['read_wall']:.2f} s, CPU {b['read_cpu']:.2f} s, "
                  f"RSS {b['rss']:.0f} MB); xlsx import {c['wall']:.2f} s "
                  f"({c['wall'] / a['proc_wall']:.2f}x bare, CPU {c['cpu']:.1f} s in "
                  f"{c['processes']} processes, peak PSS {c['pss']:.0f} MB, "
                  f"RSS sum {c['rss_sum']:.0f} MB); CSV import {d['wall']:.2f} s "
                  f"(peak PSS {d['pss']:.0f} MB)", flush=True)  # fmt: skip
        report(records, bare, reader, xlsx, csv_)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(records: int, bare: list, reader: list, xlsx: list, csv_: list) -> None:
    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    odd = []
    if {r["rows"] for r in bare} != {records + 1}:
        odd.append(f"bare calamine saw {sorted({r['rows'] for r in bare})} rows, not "
                   f"{records + 1:,} (header + records)")  # fmt: skip
    if {r["rows"] for r in reader} != {records}:
        odd.append(f"the reader gave {sorted({r['rows'] for r in reader})} records")
    imported = {r["imported"] for r in xlsx} | {r["imported"] for r in csv_}
    if len(imported) != 1:
        odd.append(f"imports stored different numbers of registrants: {sorted(imported)}")
    plans = sorted({r["plan"] for r in reader})

    a_wall, a_cpu = med(bare, "proc_wall"), med(bare, "proc_cpu")
    a_read, a_rcpu = med(bare, "read_wall"), med(bare, "read_cpu")
    b_wall, b_cpu = med(reader, "proc_wall"), med(reader, "proc_cpu")
    b_read, b_rcpu = med(reader, "read_wall"), med(reader, "read_cpu")
    c_wall, c_cpu = med(xlsx, "wall"), med(xlsx, "cpu")
    d_wall = med(csv_, "wall")
    a_rss, b_rss = max(r["rss"] for r in bare), max(r["rss"] for r in reader)
    c_pss = max(r["pss"] for r in xlsx)
    c_rss = max(r["rss_sum"] for r in xlsx)
    d_pss = max(r["pss"] for r in csv_)

    print(f"{records:,} records, medians of {len(bare)} runs:")
    print(f"  bare calamine read: {a_wall:.2f} s wall, {a_cpu:.2f} s CPU as a process "
          f"(read alone {a_read:.2f} s wall, {a_rcpu:.2f} s CPU); peak RSS {a_rss:.0f} MB")  # fmt: skip
    print(f"  resv reader (plan: {', '.join(plans)}): {b_wall:.2f} s wall, {b_cpu:.2f} s CPU "
          f"as a process (read alone {b_read:.2f} s wall, {b_rcpu:.2f} s CPU); "
          f"peak RSS {b_rss:.0f} MB")  # fmt: skip
    print(f"  reader / bare calamine: CPU {b_rcpu / a_rcpu:.2f}x, wall {b_read / a_read:.2f}x "
          f"(read alone); as processes CPU {b_cpu / a_cpu:.2f}x, wall {b_wall / a_wall:.2f}x")  # fmt: skip
    ratio = c_wall / a_wall
    print(f"  xlsx import: {c_wall:.2f} s wall ({c_cpu:.1f} s CPU) -> {ratio:.2f}x the bare "
          f"calamine read as a process (goal <= {GOAL:.0f}x: {verdict(ratio <= GOAL)}); "
          f"{c_wall / a_read:.2f}x its read alone")  # fmt: skip
    print(f"  xlsx import / CSV import of the same records: {c_wall / d_wall:.2f}x "
          f"({c_wall:.2f} s vs {d_wall:.2f} s)")  # fmt: skip
    print(f"  peak memory: xlsx import {c_pss:.0f} MB PSS of its process tree (RSS sum "
          f"{c_rss:.0f} MB; goal < {MEMORY_GOAL_MB} MB: {verdict(c_pss < MEMORY_GOAL_MB)}); "
          f"CSV import {d_pss:.0f} MB PSS; reader alone {b_rss:.0f} MB RSS; bare calamine "
          f"{a_rss:.0f} MB RSS")  # fmt: skip
    for line in odd:
        print(f"  ODD: {line}")


if __name__ == "__main__":
    sys.exit(main())
