"""Launch templates as a launch uses them: their ports as `-p` lines, the launch form's initial
values, the launch page's template picker, and a Vast template turned into a team template's
fields (`from_vast`, for the import).
"""

import re
import shlex
from dataclasses import dataclass, field

from django import forms

from instances import validators
from instances.forms import RUNTYPES
from instances.models import LaunchTemplate

_PORT_ITEM = re.compile(r"(?P<host>\d{1,5})(?::(?P<container>\d{1,5}))?(?P<proto>/(?:tcp|udp))?")
NOTE_MAX = 2000
DEFAULT_DISK = 10.0


def port_items(text):
    """The items of a ports field ("8080 8888:8888, 5000/udp"), split on spaces and commas."""
    return [item for item in re.split(r"[\s,]+", text or "") if item]


def port_lines(text):
    """A ports field as the launch form's `-p HOST:CONTAINER` lines ("8080" maps 8080 to 8080).
    Raises a ValidationError naming the first item that is not a port or a mapping; the port
    ranges and the number of ports are the launch rules' (validators.environment)."""
    lines = []
    for item in port_items(text):
        match = _PORT_ITEM.fullmatch(item)
        if match is None:
            raise forms.ValidationError(
                f"“{item[:40]}” is not a port: use 8080, or HOST:CONTAINER such as 8080:80, optionally /udp."
            )
        container = match["container"] or match["host"]
        lines.append(f"-p {int(match['host'])}:{int(container)}{match['proto'] or ''}")
    try:
        validators.environment("\n".join(lines))
    except forms.ValidationError as exc:
        raise forms.ValidationError(" ".join(exc.messages).replace("Line ", "Port ")) from None
    return lines


def env_text(template):
    """The launch form's environment for a template: its KEY=VALUE lines, then its ports."""
    lines = [line for line in (template.env or "").splitlines() if line.strip()]
    return "\n".join([*lines, *port_lines(template.ports)])


def launch_initial(template):
    """The launch form's initial values for a template (the form validates them again on launch)."""
    initial = {
        "image": template.image,
        "disk": f"{template.disk:g}",
        "runtype": template.runtype,
        "args": template.args,
        "env": env_text(template),
        "onstart": template.onstart,
    }
    return {key: value for key, value in initial.items() if value}


@dataclass
class Picker:
    """The launch page's template picker: every template, the chosen one, the form's initial values
    from it, and a warning when the choice cannot be used as is."""

    choices: list = field(default_factory=list)
    chosen: LaunchTemplate | None = None
    initial: dict = field(default_factory=dict)
    warning: str = ""


def picked(param, offer):
    """The picker for `?template=<id>` (`param`, possibly missing or junk) on `offer`'s launch page."""
    picker = Picker(choices=list(LaunchTemplate.objects.only("id", "name", "image")))
    if not param:
        return picker
    if param.isascii() and param.isdigit() and len(param) <= 18:
        picker.chosen = next((t for t in picker.choices if t.pk == int(param)), None)
    if picker.chosen is None:
        picker.warning = "That launch template does not exist (any more), so the form is not prefilled."
        return picker
    picker.chosen = LaunchTemplate.objects.get(pk=picker.chosen.pk)
    picker.initial = launch_initial(picker.chosen)
    if offer.disk_space and picker.chosen.disk > offer.disk_space:
        picker.warning = (
            f"“{picker.chosen.name}” asks for {picker.chosen.disk:g} GB of disk; this machine has "
            f"{offer.disk_space:g} GB at most. Lower the disk or pick another offer."
        )
    return picker


def docker_options(text):
    """Vast's docker-options string ("-e K=V -p 8000:8000") → (environment lines, port items).
    Raises ValueError for anything else (a volume, a hostname, any other docker option): the
    dashboard launches with environment lines and ports only."""
    try:
        tokens = shlex.split(text or "")
    except ValueError as exc:
        raise ValueError(f"its docker options cannot be split ({exc})") from None
    env, ports = [], []
    flags = {"-e": env, "--env": env, "-p": ports, "--publish": ports}
    tokens.reverse()
    while tokens:
        token = tokens.pop()
        name, eq, inline = token.partition("=")
        if token in flags:
            if not tokens:
                raise ValueError(f"its docker option {token} has no value")
            flags[token].append(tokens.pop())
        elif eq and name in ("--env", "--publish"):
            flags[name].append(inline)
        elif token[:2] in ("-e", "-p") and not token.startswith("--"):
            flags[token[:2]].append(token[2:])
        elif token.startswith("-"):
            raise ValueError(f"the docker option {token[:40]} is not allowed in team templates")
        elif eq:
            env.append(token)
        else:
            raise ValueError(f"“{token[:40]}” in its docker options is neither -e KEY=VALUE nor -p PORT")
    return env, ports


def from_vast(vast_template, name):
    """The LaunchTemplateForm data for a Vast template (see dashboard.vast.resources.templates),
    or ValueError saying why it cannot be a team template."""
    env, ports = docker_options(vast_template.env)
    runtype = vast_template.runtype
    if runtype not in RUNTYPES:
        runtype = "jupyter" if vast_template.jup_direct else "ssh" if vast_template.use_ssh else "args"
    note = [f"Imported from Vast.ai template {vast_template.hash_id or vast_template.id}."]
    if vast_template.desc:
        note.append(vast_template.desc.strip())
    if vast_template.docker_login_repo:
        note.append(f"Its image needs a registry login ({vast_template.docker_login_repo}), which was not copied.")
    return {
        "name": name,
        "image": vast_template.image_reference,
        "disk": f"{vast_template.recommended_disk_space or DEFAULT_DISK:g}",
        "runtype": runtype,
        "args": (vast_template.args_str or "") if runtype == "args" else "",
        "env": "\n".join(env),
        "ports": " ".join(ports),
        "onstart": vast_template.onstart or "",
        "note": " ".join(note)[:NOTE_MAX],
    }
