"""``report.html`` of a baseline run, drawn from a :class:`~cisgram.results.BaselineResult`."""

from __future__ import annotations

from cisgram.report.html import write_page
from cisgram.report.sections import metric_bars, metrics_section, test_scatters


def baseline_report(path, result) -> None:
    """Write the report of a baseline run: metrics and test scatter plots."""
    write_page(path, f"cisgram baseline: {result.kind}",
               [("Metrics", metrics_section(result.metrics) + metric_bars(result.metrics)),
                ("Test predictions", test_scatters(result.predictions))])
