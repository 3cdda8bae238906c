"""Vast's templates (saved launch settings): search only, as the official client's `search templates`.

The team's own launch templates live in the dashboard (`instances.models.LaunchTemplate`); this
resource reads the account's Vast templates so that they can be imported. Request shape (vastai
1.9.1 `api/offers.py::search_templates`): `GET /api/v0/template/?select_cols=["*"]&select_filters={…}`,
each value JSON-encoded. Vast answers `{success, templates_found, templates}`, and an empty
result as `200 {"success": false, "msg": "No templates found"}`, which is an empty list here.
A template's registry password (`docker_login_pass`) is never copied.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from dashboard.vast.errors import VastBadResponse, refused, vast_text
from dashboard.vast.parsing import _build, _Fields

PATH: Final = "/api/v0/template/"
RUNTYPES: Final = ("ssh", "jupyter", "args")


@dataclass(frozen=True, kw_only=True)
class VastTemplate:
    """One template as Vast describes it. `env` is Vast's docker-options string ("-e K=V -p 8000:8000")."""

    id: int
    hash_id: str | None = None
    name: str | None = None
    image: str | None = None
    tag: str | None = None
    env: str | None = None
    onstart: str | None = None
    args_str: str | None = None
    runtype: str | None = None
    use_ssh: bool | None = None
    ssh_direct: bool | None = None
    jup_direct: bool | None = None
    jupyter_dir: str | None = None
    recommended_disk_space: float | None = None
    private: bool | None = None
    desc: str | None = None
    creator_id: int | None = None
    docker_login_repo: str | None = None
    count_created: int | None = None

    @property
    def image_reference(self) -> str:
        """The image with its tag, as a launch names it ("vllm/vllm-openai:latest")."""
        image = (self.image or "").strip()
        tag = (self.tag or "").strip()
        last = image.rsplit("/", 1)[-1]
        if not image or not tag or ":" in last or "@" in image:
            return image
        return f"{image}:{tag}"


def _flag(value: Any) -> bool | None:
    """Vast's flags come as booleans, 0/1 or "true"/"false" depending on the template's age."""
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _env_string(value: Any) -> str | None:
    """`env` as the docker-options string: Vast stores a string, some answers carry the client's
    dict form ({"K": "V", "-p 8000:8000": "1"})."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = [key if str(key).startswith("-") else f"-e {key}={val}" for key, val in value.items()]
        return " ".join(parts)
    raise VastBadResponse(msg=f"template.env is an ill-typed {type(value).__name__}")


def parse_template(data: Any) -> VastTemplate:
    """One template object → VastTemplate."""
    fields = _Fields(data, "template")
    flags = {name: _flag(fields.data.get(name)) for name in ("use_ssh", "ssh_direct", "jup_direct", "private")}
    return _build(VastTemplate, fields, env=_env_string(fields.data.get("env")), **flags)


def parse_templates(data: Any) -> list[VastTemplate]:
    """A search answer → its templates; "No templates found" (200, success false) is empty."""
    body = _Fields(data, "template search").data
    if body.get("success") is False:
        if "no templates found" in vast_text(body).lower():
            return []
        raise refused(body)
    templates = body.get("templates")
    if not isinstance(templates, list):
        raise VastBadResponse(msg=f"template search.templates is {type(templates).__name__}, not a list")
    return [parse_template(item) for item in templates]


class Templates:
    """`client.templates`: the account's Vast templates."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def search(self, filters: Mapping[str, Any] | None = None) -> list[VastTemplate]:
        """Templates matching `filters` (Vast's `{field: {op: value}}` grammar): public ones and the
        account's own. Retried like a read."""
        params = {"select_cols": json.dumps(["*"]), "select_filters": json.dumps(dict(filters or {}))}
        return self._client._call("GET", PATH, params=params, parse=parse_templates)

    def created_by(self, creator_id: int) -> list[VastTemplate]:
        """The templates the account `creator_id` created (its private and public ones)."""
        return self.search({"creator_id": {"eq": creator_id}})
