"""CSV downloads (the audit log, the instance history): streamed, and safe to open in a spreadsheet."""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone

# A cell starting with one of these is a formula to a spreadsheet (CSV injection): such text, from
# a label or an upstream message, is prefixed with an apostrophe so it opens as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, value):
        return value


def _cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def stream_csv(name, header, records):
    """A download named `<name>-<UTC time>.csv` of `header` then each record (a list of cells),
    streamed so that a long log never sits in memory."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for record in records:
            yield writer.writerow([_cell(value) for value in record])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response
