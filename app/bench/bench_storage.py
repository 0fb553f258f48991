"""APROVOVA on S3 against local disk: a 1,000,000-row payments CSV generated and recorded (in s3 mode
that includes the upload), then downloaded through the download view, in each mode. SeaweedFS runs
on loopback here, so the figures are the cost of the S3 path itself, not of a network.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR))

from bench.bench_reports import ensure_payments  # noqa: E402
from tests.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, seaweedfs_server  # noqa: E402

ROWS = 1_000_000
RUNS = 3
# Streams the report's file through the download view (FileResponse, or the bucket's object) and
# prints the seconds and bytes; the report's id comes from the environment.
DOWNLOAD = """
import json, os, time
from apranova.api.views import _download
from apranova.models import Report
report = Report.objects.get(pk=int(os.environ["BENCH_REPORT_ID"]))
started = time.perf_counter()
response = _download(report.path, "missing")
size = sum(len(chunk) for chunk in response.streaming_content)
print(json.dumps({"seconds": time.perf_counter() - started, "bytes": size}))
"""


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=APP_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def one_run(env: dict[str, str]) -> tuple[float, float, int]:
    made = manage(env, "generate_report", "--type", "payments", "--format", "csv", "--limit", str(ROWS), "--stats")
    stats = last_json(made)
    report_id = manage(env, "shell", "-c", "from apranova.models import Report; print(Report.objects.latest('pk').pk)").split()[-1]
    fetched = last_json(manage({**env, "BENCH_REPORT_ID": report_id}, "shell", "-c", DOWNLOAD))
    assert fetched["bytes"] == stats["bytes"], (fetched, stats)
    return stats["seconds"], fetched["seconds"], stats["bytes"]


def main() -> int:
    ensure_payments(ROWS)
    print(f"load average: {' '.join(f'{value:.1f}' for value in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-seaweedfs-", dir="/var/tmp") as base:
        with seaweedfs_server(Path(base)) as endpoint:
            modes = {
                "local": {**os.environ, "APROVOVA_STORAGE": "local"},
                "s3": {**os.environ, "APROVOVA_STORAGE": "s3", "APROVOVA_S3_ENDPOINT_URL": endpoint, "APROVOVA_S3_BUCKET": BUCKET,
                       "APROVOVA_S3_ACCESS_KEY_ID": ACCESS_KEY, "APROVOVA_S3_SECRET_ACCESS_KEY": SECRET_KEY},
            }
            figures: dict[str, dict[str, float]] = {}
            print(f"{'mode':<6} {'run':>3} {'generate+store s':>17} {'download s':>11} {'MiB':>7}")
            for run in range(1, RUNS + 1):
                for mode, env in modes.items():  # Alternated, so drift in the machine's load hits both.
                    made, fetched, size = one_run(env)
                    figures.setdefault(mode, {}).setdefault("made", []).append(made)
                    figures[mode].setdefault("fetched", []).append(fetched)
                    print(f"{mode:<6} {run:>3} {made:>17.2f} {fetched:>11.2f} {size / 1048576:>7.1f}", flush=True)
    median = {mode: {kind: statistics.median(values) for kind, values in kinds.items()} for mode, kinds in figures.items()}
    for kind, label in (("made", "generate and store"), ("fetched", "download")):
        local, s3 = median["local"][kind], median["s3"][kind]
        print(f"{label:<18} median: local {local:.2f} s, s3 {s3:.2f} s, overhead {s3 - local:+.2f} s ({(s3 / local - 1) * 100:+.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
