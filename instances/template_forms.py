"""The launch template form: the launch rules (instances.validators) on every field, and then the
launch form itself on the whole template, so that a template always prefills a valid launch."""

from types import SimpleNamespace

from django import forms

from instances import launch_templates, validators
from instances.forms import RUNTYPE_CHOICES, LaunchForm
from instances.models import LaunchTemplate

# Offer-specific checks (the machine's disk, the minimum bid) wait for the launch itself.
_ANY_OFFER = SimpleNamespace(disk_space=None, min_bid=None)


class LaunchTemplateForm(forms.ModelForm):
    runtype = forms.ChoiceField(label="Connect with", choices=RUNTYPE_CHOICES, initial="ssh", widget=forms.RadioSelect)

    class Meta:
        model = LaunchTemplate
        fields = ["name", "image", "disk", "runtype", "args", "ports", "env", "onstart", "note"]
        labels = {
            "image": "Docker image",
            "disk": "Disk (GB)",
            "args": "Entrypoint arguments",
            "env": "Environment",
            "onstart": "On-start script",
        }
        help_texts = {
            "name": "How the team finds it on the launch page; unique.",
            "disk": "The launch page checks it against the chosen machine.",
            "args": "Only when connecting by running the image's entrypoint, e.g. --model meta-llama/Llama-3.1-8B --port 8000",
            "ports": "Ports to open, e.g. 8080 8888:8888 (HOST:CONTAINER; a single number maps to itself).",
            "env": "One KEY=VALUE per line. Shown only to people who may launch.",
            "onstart": f"Runs in the container at every start; at most {validators.ONSTART_MAX} characters.",
            "note": "What it is for, for the team.",
        }
        widgets = {
            "image": forms.TextInput(attrs={"list": "image-presets", "autocomplete": "off", "spellcheck": "false"}),
            "disk": forms.NumberInput(attrs={"step": "1", "min": "1"}),
            "args": forms.TextInput(attrs={"spellcheck": "false"}),
            "ports": forms.TextInput(attrs={"spellcheck": "false"}),
            "env": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            "onstart": forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
            "note": forms.Textarea(attrs={"rows": 2}),
        }

    def clean_name(self):
        name = validators.label(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the template a name.")
        taken = LaunchTemplate.objects.filter(name__iexact=name).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"A template named “{name}” exists already.")
        return name

    def clean_image(self):
        return validators.image_reference(self.cleaned_data["image"])

    def clean_env(self):
        text = self.cleaned_data["env"].replace("\r\n", "\n")
        validators.environment(text)
        return text.strip()

    def clean_ports(self):
        text = self.cleaned_data["ports"]
        launch_templates.port_lines(text)
        return " ".join(launch_templates.port_items(text))

    def clean_onstart(self):
        return validators.onstart(self.cleaned_data["onstart"])

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if len(note) > launch_templates.NOTE_MAX:
            raise forms.ValidationError(f"At most {launch_templates.NOTE_MAX} characters.")
        return note

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        # The launch form on the template's values: the same rules a launch with it will meet.
        draft = LaunchTemplate(**{name: data.get(name, "") for name in ("image", "disk", "runtype", "args")})
        draft.env, draft.ports, draft.onstart = data.get("env", ""), data.get("ports", ""), data.get("onstart", "")
        launch = LaunchForm(launch_templates.launch_initial(draft), offer=_ANY_OFFER)
        if not launch.is_valid():
            for name, errors in launch.errors.items():
                # A clash between the environment and the ports shows on the environment.
                self.add_error(name if name in self.fields else None, errors)
        return data
