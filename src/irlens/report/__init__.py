"""Tables and figures for the report."""

from irlens.report.tables import retrieval_table

__all__ = ["retrieval_table"]
