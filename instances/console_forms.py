"""The forms of the console actions: how many log lines to show, and a new bid."""

import math

from django import forms

from instances.forms import BID_MAX

BID_MIN = 0.001  # Vast refuses less ("Please set a bid price >= 0.001.")
LINE_CHOICES = (100, 500, 1000, 5000)
DEFAULT_LINES = 500


class LogsForm(forms.Form):
    """How many of the last log lines to ask Vast for (one of LINE_CHOICES)."""

    lines = forms.TypedChoiceField(
        label="Lines",
        choices=[(n, f"last {n}") for n in LINE_CHOICES],
        coerce=int,
        initial=DEFAULT_LINES,
        required=False,
        empty_value=DEFAULT_LINES,
    )

    def lines_or_default(self):
        """The chosen line count; DEFAULT_LINES when the input is missing or not a choice."""
        return self.cleaned_data["lines"] if self.is_valid() else DEFAULT_LINES


def min_bid_of(instance):
    """The instance's minimum bid ($/hr for the whole machine), rounded up to 4 decimals, or None."""
    if instance.min_bid is None:
        return None
    return math.ceil(instance.min_bid * 10000 - 1e-9) / 10000


class BidForm(forms.Form):
    """A new bid for an interruptible instance: $/hr for the whole machine, more than 0, at most
    BID_MAX, and at least the offer's minimum bid (from the ledger's last snapshot)."""

    price = forms.FloatField(
        label="New bid ($/hr for the whole machine)",
        max_value=BID_MAX,
        widget=forms.NumberInput(attrs={"step": "0.0001"}),
    )

    def __init__(self, *args, min_bid=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_bid = min_bid
        self.fields["price"].widget.attrs["min"] = f"{min_bid:g}" if min_bid else "0.001"

    def clean_price(self):
        price = self.cleaned_data["price"]
        if price < BID_MIN:
            raise forms.ValidationError(f"A bid must be more than $0/hr (Vast.ai takes ${BID_MIN}/hr at least).")
        if self.min_bid is not None and price < self.min_bid:
            raise forms.ValidationError(f"Bid at least ${self.min_bid:.4f}/hr, this machine's minimum bid.")
        return price
