"""Report benchmark: rows/s and peak RSS per format and size, each generation in its own process.

A fresh process per run gives an honest peak RSS (ru_maxrss from wait4) that includes Django's
baseline, so "1,000,000 rows within 1.2x of 100,000 rows" shows memory does not grow with rows.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
# PDF at its row limit (APROVOVA_PDF_MAX_ROWS, 50,000) and at 100,000, which must be refused.
RUNS = [("csv", 100_000), ("csv", 1_000_000), ("json", 100_000), ("json", 1_000_000), ("pdf", 10_000), ("pdf", 50_000)]
PDF_REFUSED_ROWS = 100_000
GOAL_CSV_ROWS_PER_S = 150_000
GOAL_JSON_ROWS_PER_S = 300_000
GOAL_RSS_RATIO = 1.2
GOAL_PDF_SECONDS = 10.0


def manage(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=APP_DIR, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def payment_count() -> int:
    code = "from apranova.models import Payment; print(Payment.objects.count())"
    return int(subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=APP_DIR, check=True,
                              capture_output=True, text=True).stdout.split()[-1])


def ensure_payments(target: int) -> None:
    have = payment_count()
    if have >= target:
        print(f"seed: {have:,} payments already present")
        return
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "seed_demo", "--users", "20000", "--batches", "60", "--payments", str(target - have)],
                   cwd=APP_DIR, check=True, stdout=subprocess.DEVNULL)
    print(f"seed: {target - have:,} payments in {time.perf_counter() - started:.1f} s (goal: 1,000,000 in < 60 s)")


def run(fmt: str, rows: int) -> dict:
    process = manage("generate_report", "--type", "payments", "--format", fmt, "--limit", str(rows), "--stats")
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{fmt} x {rows} failed:\n{output}")
    stats = json.loads([line for line in output.splitlines() if line.startswith('{"rows"')][-1])
    return {"format": fmt, "rows": stats["rows"], "seconds": stats["seconds"], "rows_per_s": stats["rows"] / stats["seconds"],
            "peak_rss_mib": usage.ru_maxrss / 1024, "mib": stats["bytes"] / 1048576}


def pdf_refusal(rows: int) -> str:
    """What the worker records for a PDF over the limit (the API refuses it with a 400 before that)."""
    process = manage("generate_report", "--type", "payments", "--format", "pdf", "--limit", str(rows))
    output, _ = process.communicate()
    return "" if process.returncode == 0 else output.strip().splitlines()[-1]


def main() -> int:
    ensure_payments(max(rows for _, rows in RUNS))
    # Other work on the machine skews every figure; say how busy it was.
    print(f"load average: {' '.join(f'{value:.1f}' for value in os.getloadavg())} on {os.cpu_count()} CPUs")
    results = []
    print(f"{'format':<6} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS MiB':>13} {'file MiB':>9}")
    for fmt, rows in RUNS:
        result = run(fmt, rows)
        results.append(result)
        print(f"{fmt:<6} {result['rows']:>10,} {result['seconds']:>8.2f} {result['rows_per_s']:>10,.0f} "
              f"{result['peak_rss_mib']:>13.1f} {result['mib']:>9.1f}", flush=True)
    refusal = pdf_refusal(PDF_REFUSED_ROWS)
    print(f"pdf    {PDF_REFUSED_ROWS:>10,} refused: {refusal or 'NOT refused'}")
    by = {(r["format"], r["rows"]): r for r in results}
    checks = [
        (f"CSV >= {GOAL_CSV_ROWS_PER_S:,} rows/s at 1,000,000 rows", by[("csv", 1_000_000)]["rows_per_s"] >= GOAL_CSV_ROWS_PER_S),
        (f"JSON >= {GOAL_JSON_ROWS_PER_S:,} rows/s at 1,000,000 rows", by[("json", 1_000_000)]["rows_per_s"] >= GOAL_JSON_ROWS_PER_S),
        *[(f"{fmt.upper()} peak RSS at 1,000,000 rows <= {GOAL_RSS_RATIO}x of 100,000 rows",
           by[(fmt, 1_000_000)]["peak_rss_mib"] <= GOAL_RSS_RATIO * by[(fmt, 100_000)]["peak_rss_mib"]) for fmt in ("csv", "json")],
        (f"PDF of 10,000 rows in < {GOAL_PDF_SECONDS:.0f} s", by[("pdf", 10_000)]["seconds"] < GOAL_PDF_SECONDS),
        (f"PDF of {PDF_REFUSED_ROWS:,} rows refused", "limited to" in refusal),
    ]
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
