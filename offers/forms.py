"""The offer search filters: a GET form whose field names are the page's shareable URL."""

from django import forms

from dashboard import vast

# ISO 3166 codes people rent from most; any other two-letter code is accepted too.
COUNTRIES = {
    "US": "United States", "CA": "Canada", "MX": "Mexico", "BR": "Brazil", "GB": "United Kingdom",
    "IE": "Ireland", "FR": "France", "DE": "Germany", "NL": "Netherlands", "BE": "Belgium", "ES": "Spain",
    "PT": "Portugal", "IT": "Italy", "CH": "Switzerland", "AT": "Austria", "SE": "Sweden", "NO": "Norway",
    "FI": "Finland", "DK": "Denmark", "PL": "Poland", "CZ": "Czechia", "RO": "Romania", "BG": "Bulgaria",
    "HU": "Hungary", "UA": "Ukraine", "EE": "Estonia", "IS": "Iceland", "TR": "Turkey", "IL": "Israel",
    "AE": "United Arab Emirates", "IN": "India", "SG": "Singapore", "JP": "Japan", "KR": "South Korea",
    "TW": "Taiwan", "HK": "Hong Kong", "CN": "China", "VN": "Vietnam", "TH": "Thailand", "AU": "Australia",
    "NZ": "New Zealand", "ZA": "South Africa",
}  # fmt: skip

SORT_CHOICES = [
    ("dph_total", "Cheapest $/hr"),
    ("price_per_gpu", "Cheapest $/GPU·hr"),
    ("-dlperf_per_dphtotal", "Most DLPerf per $"),
    ("-flops_per_dphtotal", "Most TFLOPS per $"),
    ("-dlperf", "Fastest (DLPerf)"),
    ("-reliability", "Most reliable"),
    ("-inet_down", "Fastest download"),
    ("-score", "Vast score"),
]
ORDERABLE = set(vast.SORTABLE_FIELDS) | set(vast.LOCAL_SORTS)


class OfferSearchForm(forms.Form):
    """Validates the page's query string; `search()` turns it into a `vast.OfferSearch`."""

    gpu = forms.MultipleChoiceField(label="GPU model", required=False)
    num_gpus = forms.IntegerField(label="Min GPUs", required=False, min_value=1, max_value=64)
    min_gpu_ram = forms.FloatField(label="Min VRAM per GPU (GB)", required=False, min_value=0, max_value=1024)
    max_dph = forms.DecimalField(
        label="Max $/hr (total)", required=False, min_value=0, max_value=10000, decimal_places=4
    )
    min_reliability = forms.FloatField(label="Min reliability (%)", required=False, min_value=0, max_value=100)
    min_cuda = forms.FloatField(label="Min CUDA", required=False, min_value=0, max_value=99)
    disk = forms.FloatField(label="Disk to rent (GB)", required=False, min_value=1, max_value=100000, initial=10)
    min_inet_down = forms.FloatField(label="Min download (Mbps)", required=False, min_value=0, max_value=1000000)
    geolocation = forms.MultipleChoiceField(label="Country", required=False)
    verified = forms.ChoiceField(
        label="Hosts", required=False, choices=[("true", "Verified only"), ("any", "Any")], initial="true"
    )
    datacenter = forms.BooleanField(label="Datacenter only", required=False)
    type = forms.ChoiceField(
        label="Rental type",
        required=False,
        initial="on-demand",
        choices=[("on-demand", "On-demand"), ("bid", "Interruptible (bid)"), ("reserved", "Reserved")],
    )
    order = forms.CharField(label="Sort", required=False, max_length=40, initial="dph_total")

    def __init__(self, *args, gpu_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gpu"].choices = [(name, name) for name in gpu_names]
        self.fields["geolocation"].choices = sorted(
            ((code, f"{name} ({code})") for code, name in COUNTRIES.items()), key=lambda c: c[1]
        )

    def clean_order(self):
        order = self.cleaned_data["order"] or "dph_total"
        if order.lstrip("-") not in ORDERABLE:
            raise forms.ValidationError(f"Cannot sort by “{order}”.")
        return order

    def search(self):
        """The validated filters as the service module's `OfferSearch`."""
        data = self.cleaned_data
        max_dph = data.get("max_dph")
        return vast.OfferSearch(
            gpu_names=tuple(data.get("gpu") or ()),
            num_gpus=data.get("num_gpus"),
            min_gpu_ram_gb=data.get("min_gpu_ram"),
            max_dph=float(max_dph) if max_dph is not None else None,
            min_reliability_pct=data.get("min_reliability"),
            min_cuda=data.get("min_cuda"),
            disk_gb=data.get("disk") or 10.0,
            min_inet_down=data.get("min_inet_down"),
            countries=tuple(data.get("geolocation") or ()),
            verified_only=(data.get("verified") or "true") == "true",
            datacenter_only=bool(data.get("datacenter")),
            rental_type=data.get("type") or "on-demand",
            order=data.get("order") or "dph_total",
        )


class AlertForm(forms.Form):
    """A saved search's price alert: a $/GPU·hr ceiling and/or a minimum number of offers."""

    max_dph_per_gpu = forms.DecimalField(
        label="Alert under $/GPU·hr", required=False, min_value=0, max_value=1000, decimal_places=4
    )
    min_offers = forms.IntegerField(label="At least N offers", required=False, min_value=1, max_value=10000)
    notify_to = forms.ChoiceField(
        label="Notify", choices=[("me", "Me"), ("team", "Me and the team webhook")], initial="me", required=False
    )


class SaveSearchForm(AlertForm):
    """POST /offers/saved/: the page's query string under a name, maybe shared, maybe alerting."""

    name = forms.CharField(max_length=80, strip=True)
    query = forms.CharField(max_length=1000, required=False, strip=True)
    shared = forms.BooleanField(required=False)

    field_order = ["name", "query", "shared", "max_dph_per_gpu", "min_offers", "notify_to"]


class RenameForm(forms.Form):
    name = forms.CharField(max_length=80, strip=True)


class ColumnsForm(forms.Form):
    """POST /offers/columns/: the offers table's columns a person wants (`reset`: the defaults)."""

    columns = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    reset = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        from offers.columns import COLUMNS

        super().__init__(*args, **kwargs)
        self.fields["columns"].choices = [(column.field, column.label) for column in COLUMNS]

    def clean(self):
        data = super().clean()
        if not data.get("reset") and not self.errors and not data.get("columns"):
            raise forms.ValidationError("Choose at least one column, or go back to the default columns.")
        return data
