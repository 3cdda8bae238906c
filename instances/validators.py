"""What a person may ask Vast to run: the rules for images, environment lines, labels and on-start
scripts, shared by every form that launches (and, later, by launch templates).

Vast turns the `env` object into `docker run` options on the host, so nothing typed here may
become another docker option: keys are identifiers, the only flag lines are `-p` port mappings,
and a value that a shell would split is sent quoted (Vast's own client strips such quotes from
`-e 'K=V'`, so Vast reads the quoted value back as one word).
"""

import re
import shlex

from django import forms

LABEL_MAX_BYTES = 1024  # Vast's label_too_long limit
ONSTART_MAX = 4048  # Vast's documented limit for the on-start script
IMAGE_MAX = 255
PORTS_MAX = 32
ENV_LINES_MAX = 64
ENV_VALUE_MAX = 4096

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PORT_LINE = re.compile(r"-p\s+(?P<host>\d{1,5}):(?P<container>\d{1,5})(?P<proto>/(?:tcp|udp))?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# The Docker reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
# Vast's base images take a tag that Vast resolves itself.
_VAST_TAG = r"@vastai-automatic-tag"
_IMAGE = re.compile(rf"(?P<name>{_NAME})(?::(?:{_TAG}|{_VAST_TAG}))?(?:@{_DIGEST})?")


def image_reference(value):
    """A Docker image reference, or a ValidationError saying what is wrong with it."""
    image = value.strip()
    if not image:
        raise forms.ValidationError("Name a Docker image, e.g. pytorch/pytorch:latest.")
    if len(image) > IMAGE_MAX:
        raise forms.ValidationError(f"An image reference has at most {IMAGE_MAX} characters.")
    if any(char.isspace() for char in image) or image.startswith("-"):
        raise forms.ValidationError(
            "An image reference is one word with no spaces or options, e.g. pytorch/pytorch:latest."
        )
    match = _IMAGE.fullmatch(image)
    if match is None:
        raise forms.ValidationError(
            "Not a valid Docker image reference: use [registry/]name[:tag][@sha256:digest], "
            "with a lower-case name, e.g. nvidia/cuda:12.4.1-devel-ubuntu22.04."
        )
    return image


def _port(text, line_number, what):
    number = int(text)
    if not 1 <= number <= 65535:
        raise forms.ValidationError(f"Line {line_number}: the {what} port {number} is not between 1 and 65535.")
    return number


def env_value(value):
    """The value as sent to Vast: as typed when a shell would keep it one word, else quoted."""
    return value if value and shlex.quote(value) == value else shlex.quote(value)


def environment(text):
    """`KEY=VALUE` lines (also `-e KEY=VALUE`) and `-p HOST:CONTAINER[/tcp|/udp]` port lines → the
    `env` object Vast takes, values quoted where needed. Blank and `#` lines are skipped. Raises a
    ValidationError naming the first bad line."""
    env, ports = {}, 0
    lines = [(n, raw.strip()) for n, raw in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if len(lines) > ENV_LINES_MAX:
        raise forms.ValidationError(f"At most {ENV_LINES_MAX} environment lines.")
    for number, line in lines:
        shown = line[:60]
        if line.startswith("-p"):
            match = _PORT_LINE.fullmatch(line)
            if match is None:
                raise forms.ValidationError(
                    f"Line {number} (“{shown}”): a port line is -p HOST:CONTAINER, e.g. -p 8080:8080."
                )
            host, container = _port(match["host"], number, "host"), _port(match["container"], number, "container")
            ports += 1
            if ports > PORTS_MAX:
                raise forms.ValidationError(f"Line {number}: at most {PORTS_MAX} port lines.")
            key, value = f"-p {host}:{container}{match['proto'] or ''}", "1"
        else:
            body = line[2:].lstrip() if line.startswith("-e ") else line
            key, sep, value = body.partition("=")
            if not sep or not _ENV_KEY.fullmatch(key):
                raise forms.ValidationError(
                    f"Line {number} (“{shown}”) is not KEY=VALUE (a letter or _ then letters, digits or _) "
                    "or -p HOST:CONTAINER. Other docker options are not allowed."
                )
            if _CONTROL.search(value):
                raise forms.ValidationError(f"Line {number}: the value of {key} holds a control character.")
            if len(value) > ENV_VALUE_MAX:
                raise forms.ValidationError(f"Line {number}: the value of {key} is over {ENV_VALUE_MAX} characters.")
            value = env_value(value)
        if key in env:
            raise forms.ValidationError(f"Line {number} sets {key} a second time.")
        env[key] = value
    return env


def label(value):
    """A label Vast accepts: one line, at most LABEL_MAX_BYTES bytes of UTF-8."""
    text = value.strip()
    if _CONTROL.search(text) or "\n" in text:
        raise forms.ValidationError("A label is one line of text without control characters.")
    size = len(text.encode())
    if size > LABEL_MAX_BYTES:
        raise forms.ValidationError(f"A label is at most {LABEL_MAX_BYTES} bytes (this one is {size}); shorten it.")
    return text


def onstart(value):
    """An on-start script: newlines as a shell wants them, at most ONSTART_MAX characters."""
    script = value.replace("\r\n", "\n")
    if "\x00" in script:
        raise forms.ValidationError("The script holds a NUL character.")
    if len(script) > ONSTART_MAX:
        raise forms.ValidationError(f"At most {ONSTART_MAX} characters (this has {len(script)}).")
    return script
