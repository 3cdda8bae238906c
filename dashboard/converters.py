"""URL converters: Vast's ids are positive 64-bit integers, checked once, in the URL itself.

`<vast_id:instance_id>` matches digits whose value is 1..2^63-1; anything else (0, a number
past a database's BIGINT, letters) matches no URL, so it is a 404 page before any view runs:
no audit row, no upstream call.
"""

MAX_ID = 2**63 - 1


class VastIdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value):
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(f"{value} is not a Vast id")
        return number

    def to_url(self, value):
        return str(int(value))
