"""PNG charts for the analytics report (matplotlib's Agg backend: no display, thread-safe enough for workers)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-GUI backend)

from core import aprovova  # noqa: E402
from core.atomic import atomic_write, unique_path  # noqa: E402


def render_analytics_charts(rows: list[list]) -> list[Path]:
    """Revenue per currency and new enrollments over time, one PNG each."""
    revenue: dict[str, list[tuple]] = defaultdict(list)
    enrollments: dict = defaultdict(int)
    for day, currency, _count, total, new in rows:
        if currency:
            revenue[currency].append((day, float(total)))
        enrollments[day] += new
    charts_dir = aprovova.type_dir("analytics") / "charts"
    paths = [_plot(charts_dir, "revenue", "Revenue per day", {c: s for c, s in revenue.items()}),
             _plot(charts_dir, "enrollments", "New enrollments per day", {"enrollments": sorted(enrollments.items())})]
    return paths


def _plot(directory: Path, stem: str, title: str, series: dict[str, list[tuple]]) -> Path:
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        for label, points in sorted(series.items()):
            if points:
                days, values = zip(*points)
                axes.plot(days, values, label=label)
        axes.set_title(title)
        axes.grid(alpha=0.3)
        if series:
            axes.legend(loc="upper left")
        figure.autofmt_xdate()
        path = unique_path(directory, f"analytics_{stem}", "png")
        with atomic_write(path, binary=True) as handle:
            figure.savefig(handle, format="png")
        return path
    finally:
        plt.close(figure)  # Pyplot keeps figures alive otherwise: a slow leak in a long-lived worker.
