"""TODO docstring."""

from __future__ import annotations

from cisgram.files import atomic_write
from cisgram.report.html import page
from cisgram.report.sections import metric_bars, metrics_section, test_scatters


def baseline_report(path, kind: str, preds, metrics: dict) -> None:
    """``report.html`` of a baseline run: metrics and test scatter plots."""
    html_text = page(f"cisgram baseline: {kind}", [("Metrics", metrics_section(metrics) + metric_bars(metrics)),
                                                    ("Test predictions", test_scatters(preds))])
    with atomic_write(path) as fh:
        fh.write(html_text)
