"""Reports over an annotated graph: per-layer table, totals, breakdowns; four formats."""

from cnndsl.report.formats import FORMATS, render
from cnndsl.report.model import Report, Row, build_report

__all__ = ["FORMATS", "Report", "Row", "build_report", "render"]
