"""The report's one exception type."""


class ReportError(Exception):
    """A problem with the report's input that the person can fix (bad path, bad file)."""
