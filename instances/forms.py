"""The launch form (what to run on a rented offer) and the relabel form."""

import math
import shlex

from django import forms

from dashboard import vast
from instances import validators
from instances.policies import lease

IMAGE_PRESETS = [
    ("pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel", "PyTorch 2.5.1 · CUDA 12.4"),
    ("nvidia/cuda:12.4.1-devel-ubuntu22.04", "CUDA 12.4 base · Ubuntu 22.04"),
    ("vllm/vllm-openai:latest", "vLLM OpenAI-compatible server"),
    ("vastai/base-image:@vastai-automatic-tag", "Vast.ai base image"),
]
# How to connect → Vast's runtype (note Vast's "direc" spelling).
RUNTYPES = {
    "ssh": "ssh_direc ssh_proxy",
    "jupyter": "jupyter_direc ssh_direc ssh_proxy",
    "args": "args",
}
RUNTYPE_CHOICES = [
    ("ssh", "SSH (direct, with proxy fallback)"),
    ("jupyter", "Jupyter + SSH"),
    ("args", "Run the image's entrypoint with arguments"),
]
LABEL_MAX = validators.LABEL_MAX_BYTES
ONSTART_MAX = validators.ONSTART_MAX
BID_MAX = 128.0
HOURS_PER_MONTH = 720


def storage_per_hour(offer, disk_gb):
    """$/hr for `disk_gb` of the offer's storage (storage_cost is $/GB/month)."""
    return (offer.storage_cost or 0.0) * disk_gb / HOURS_PER_MONTH


def quote(offer, disk_gb, bid=None):
    """What the rental costs per hour: GPU (the bid if interruptible) + storage."""
    gpu = bid if bid is not None else (offer.dph_base if offer.dph_base is not None else offer.dph_total)
    storage = storage_per_hour(offer, disk_gb)
    total = gpu + storage
    return {"gpu": gpu, "storage": storage, "total": total, "per_day": total * 24, "disk": disk_gb}


def min_bid_for(offer):
    """The offer's minimum bid, rounded up to the form's 4 decimals."""
    return math.ceil((offer.min_bid or 0.001) * 10000 - 1e-9) / 10000


class LaunchForm(forms.Form):
    """What to run on the offer. `bid` adds the `price` field (interruptible rental);
    `launch_request()` gives the service module's LaunchRequest."""

    image = forms.CharField(
        label="Docker image",
        max_length=512,
        initial=IMAGE_PRESETS[0][0],
        widget=forms.TextInput(attrs={"list": "image-presets", "autocomplete": "off", "spellcheck": "false"}),
    )
    disk = forms.FloatField(label="Disk (GB)", min_value=1, initial=10, widget=forms.NumberInput(attrs={"step": "1"}))
    price = forms.FloatField(
        label="Your bid ($/hr for the whole machine)",
        max_value=BID_MAX,
        widget=forms.NumberInput(attrs={"step": "0.0001"}),
    )
    runtype = forms.ChoiceField(label="Connect with", choices=RUNTYPE_CHOICES, initial="ssh", widget=forms.RadioSelect)
    args = forms.CharField(
        label="Entrypoint arguments",
        required=False,
        max_length=4096,
        help_text="Split like a shell command line, e.g. --model meta-llama/Llama-3.1-8B --port 8000",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    label = forms.CharField(label="Label", required=False, max_length=LABEL_MAX)
    env = forms.CharField(
        label="Environment",
        required=False,
        help_text="One KEY=VALUE per line; -p 8080:8080 opens a port (no other docker options). Values are not shown again.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    onstart = forms.CharField(
        label="On-start script",
        required=False,
        help_text=f"Runs in the container at every start; at most {ONSTART_MAX} characters.",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
    )
    stop_after = forms.IntegerField(
        label="Stop after (minutes)",
        required=False,
        min_value=1,
        max_value=366 * 24 * 60,
        help_text="The worker stops it then (you are warned before, and may extend); empty = never.",
        widget=forms.NumberInput(attrs={"list": "stop-after-presets", "step": "1"}),
    )

    def __init__(self, *args, offer, bid=False, max_stop_after=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.offer = offer
        # The role's longest time limit (None: no maximum), which is also the default.
        self.max_stop_after = max_stop_after
        self.stop_after_presets = lease.presets(max_stop_after)
        if max_stop_after is not None:
            self.fields["stop_after"].initial = max_stop_after
            self.fields["stop_after"].widget.attrs["max"] = str(max_stop_after)
            self.fields["stop_after"].help_text = (
                f"The worker stops it then (you are warned before, and may extend); at most {max_stop_after} "
                f"minutes ({lease.duration(max_stop_after * 60)}) for your role."
            )
        if offer.disk_space:
            self.fields["disk"].widget.attrs["max"] = f"{offer.disk_space:g}"
        if bid:
            self.fields["price"].initial = min_bid_for(offer)
            self.fields["price"].widget.attrs["min"] = f"{min_bid_for(offer):g}"
        else:
            del self.fields["price"]

    def clean_image(self):
        return validators.image_reference(self.cleaned_data["image"])

    def clean_label(self):
        return validators.label(self.cleaned_data["label"])

    def clean_disk(self):
        disk = self.cleaned_data["disk"]
        if self.offer.disk_space and disk > self.offer.disk_space:
            raise forms.ValidationError(f"This machine has {self.offer.disk_space:g} GB of disk at most.")
        return disk

    def clean_price(self):
        price = self.cleaned_data["price"]
        minimum = min_bid_for(self.offer)
        if price < minimum:
            raise forms.ValidationError(f"Bid at least ${minimum:.4f}/hr, this offer's minimum bid.")
        return price

    def clean_env(self):
        return validators.environment(self.cleaned_data["env"])

    def clean_stop_after(self):
        minutes, maximum = self.cleaned_data["stop_after"], self.max_stop_after
        if maximum is not None and (minutes is None or minutes > maximum):
            raise forms.ValidationError(
                f"Your role may launch with a time limit of at most {maximum} minutes "
                f"({lease.duration(maximum * 60)}); enter {maximum} or less."
            )
        return minutes

    def clean_onstart(self):
        # Browsers send textarea lines with CRLF, which breaks a shell script.
        return validators.onstart(self.cleaned_data["onstart"])

    def clean_args(self):
        try:
            return shlex.split(self.cleaned_data["args"])
        except ValueError as exc:
            raise forms.ValidationError(f"Cannot split these arguments: {exc}.") from None

    def clean(self):
        data = super().clean()
        if data.get("args") and data.get("runtype") in ("ssh", "jupyter"):
            self.add_error("args", "Arguments are used only when running the image's entrypoint; pick that mode.")
        return data

    def launch_request(self):
        """The validated form as the service module's LaunchRequest."""
        data = self.cleaned_data
        return vast.LaunchRequest(
            image=data["image"],
            disk=data["disk"],
            label=data["label"] or None,
            env=data["env"],
            onstart=data["onstart"] or None,
            runtype=RUNTYPES[data["runtype"]],
            args=data["args"] if data["runtype"] == "args" else None,
            price=data.get("price"),
        )


class LabelForm(forms.Form):
    """A new label for an instance; empty clears it."""

    label = forms.CharField(label="Label", required=False, max_length=LABEL_MAX, strip=True)

    def clean_label(self):
        return validators.label(self.cleaned_data["label"])
