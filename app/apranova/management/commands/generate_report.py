"""Generate one report from the command line (also what the benchmark times)."""
import json
import resource
import time

from django.core.management.base import BaseCommand

from apranova.models import Report
from apranova.services import run_report


class Command(BaseCommand):
    help = "Generate a report synchronously and record it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--type", required=True, choices=Report.Type.values)
        parser.add_argument("--format", required=True, choices=Report.Format.values)
        parser.add_argument("--date-from")
        parser.add_argument("--date-to")
        parser.add_argument("--limit", type=int, help="at most this many rows (benchmarks)")
        parser.add_argument("--stats", action="store_true", help="print one JSON line with rows, seconds and peak RSS")

    def handle(self, *args, **options) -> None:
        filters = {key: options[key] for key in ("date_from", "date_to", "limit") if options[key]}
        report = Report.objects.create(report_type=options["type"], format=options["format"], filters=filters)
        started = time.perf_counter()
        outcome = run_report(report)
        seconds = time.perf_counter() - started
        if outcome is None:
            raise SystemExit(f"report {report.pk} was deleted while it ran")
        report = outcome
        if report.status != Report.Status.SUCCEEDED:
            raise SystemExit(f"report {report.pk} failed: {report.error}")
        if options["stats"]:
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.stdout.write(json.dumps({"rows": report.row_count, "seconds": seconds, "peak_rss_kib": peak_kib, "bytes": report.size_bytes}))
        else:
            self.stdout.write(f"report {report.pk}: {report.row_count} rows in {seconds:.2f} s -> {report.path}")
