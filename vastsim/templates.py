"""Template endpoints (vast-api-more.md §4): search, create and delete, as vastai 1.9.1 calls them.

- `GET /api/v0/template/?select_cols=["*"]&select_filters={…}`: public templates and the
  account's own → `{success, templates_found, templates}`; none → 200 `success: false`,
  "No templates found".
- `POST /api/v0/template/` (`create template`): `name` and `image` required; identical content
  → 200 `success: false`, "Existing Template Found", with the existing template.
- `DELETE /api/v0/template/` `{template_id}` or `{hash_id}` (`delete template`).

The account starts with a few templates of its own (one with a docker option the dashboard
refuses) beside Vast's public recommended ones, seeded on first use.
"""

import hashlib
import json

from django.db import transaction

from vastsim import clock
from vastsim.account import USER_ID
from vastsim.models import Template
from vastsim.protocol import ApiError, json_response
from vastsim.query import QueryError, compile_conditions, matches

VAST_CREATOR_ID = 62_897  # Vast's own account, creator of the public recommended templates
# What a template carries besides id, hash_id, creator_id and created_at, with the defaults of a
# template created without them.
FIELDS = {
    "name": None,
    "image": None,
    "tag": None,
    "default_tag": None,
    "href": None,
    "repo": None,
    "env": None,
    "onstart": None,
    "args_str": None,
    "runtype": "args",
    "use_ssh": False,
    "ssh_direct": False,
    "jup_direct": False,
    "use_jupyter_lab": False,
    "jupyter_dir": None,
    "docker_login_repo": None,
    "extra_filters": {},
    "recommended_disk_space": 8.0,
    "readme": None,
    "readme_visible": True,
    "desc": None,
    "private": True,
    "recommended": False,
    "count_created": 0,
    "recent_create_date": None,
}
SEARCHABLE = {
    "creator_id", "created_at", "count_created", "default_tag", "docker_login_repo", "id", "image",
    "jup_direct", "hash_id", "private", "name", "recent_create_date", "recommended_disk_space",
    "recommended", "ssh_direct", "tag", "use_ssh",
}  # fmt: skip
SEEDS = (
    (VAST_CREATOR_ID, {"name": "PyTorch (cuDNN Devel)", "image": "pytorch/pytorch", "tag": "2.5.1-cuda12.4-cudnn9-devel",
                       "runtype": "jupyter", "use_ssh": True, "jup_direct": True, "env": "-p 8888:8888",
                       "recommended_disk_space": 20.0, "private": False, "recommended": True, "count_created": 91234}),
    (VAST_CREATOR_ID, {"name": "NVIDIA CUDA", "image": "nvidia/cuda", "tag": "12.4.1-devel-ubuntu22.04",
                       "runtype": "ssh", "use_ssh": True, "ssh_direct": True, "env": "",
                       "recommended_disk_space": 10.0, "private": False, "recommended": True, "count_created": 40321}),
    (USER_ID, {"name": "vllm llama-3.1-8b", "image": "vllm/vllm-openai", "tag": "latest", "runtype": "args",
               "args_str": "--model meta-llama/Llama-3.1-8B-Instruct --port 8000",
               "env": "-p 8000:8000 -e HF_HOME=/workspace/hf", "recommended_disk_space": 60.0,
               "desc": "OpenAI-compatible server for Llama 3.1 8B", "count_created": 12}),
    (USER_ID, {"name": "jupyter-cuda", "image": "nvidia/cuda", "tag": "12.4.1-devel-ubuntu22.04",
               "runtype": "jupyter", "use_ssh": True, "jup_direct": True, "jupyter_dir": "/workspace",
               "env": "-p 8888:8888 -e JUPYTER_DIR=/workspace", "onstart": "pip install -q jupyterlab\n",
               "recommended_disk_space": 32.0, "count_created": 3}),
    (USER_ID, {"name": "shared-volume", "image": "ubuntu", "tag": "22.04", "runtype": "ssh", "use_ssh": True,
               "env": "-v /data:/data -e A=1", "private": False, "desc": "Mounts the host's /data"}),
)  # fmt: skip


def _hash(fields):
    """The content hash Vast uses as hash_id (equal content, equal hash)."""
    return hashlib.md5(json.dumps(fields, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def _new(creator_id, values, now):
    fields = {**FIELDS, **values}
    return Template.objects.create(hash_id=_hash(fields), creator_id=creator_id, created_at=now, fields=fields)


def templates():
    """Every template, seeding the defaults on first use."""
    with transaction.atomic():
        rows = list(Template.objects.all())
        if not rows:
            now = clock.now() - 86400 * 30
            rows = [_new(creator, values, now + 3600 * i) for i, (creator, values) in enumerate(SEEDS)]
    return rows


def render(template):
    """The template as the API shows it."""
    return {
        "id": template.pk,
        "hash_id": template.hash_id,
        "creator_id": template.creator_id,
        "created_at": template.created_at,
        **{key: template.fields.get(key, default) for key, default in FIELDS.items()},
    }


def _visible(row):
    return not row["private"] or row["creator_id"] == USER_ID


def _query_error(msg):
    return ApiError(400, {"success": False, "error": "invalid_args", "msg": f"Error in query parameters: {msg}"})


def _param(request, name, default):
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise _query_error(f"{name} is not valid JSON") from None


def _column(field):
    if field not in SEARCHABLE:
        raise QueryError(f"{field} is not a valid search key")
    return lambda row: row.get(field)


def search(request):
    """GET /api/v0/template/: the visible templates matching select_filters."""
    filters = _param(request, "select_filters", {})
    if not isinstance(filters, dict):
        raise _query_error("select_filters must be an object")
    try:
        conditions = compile_conditions(filters, _column)
    except QueryError as exc:
        raise _query_error(str(exc)) from None
    rows = [row for row in map(render, templates()) if _visible(row) and matches(row, conditions)]
    if not rows:
        return json_response({"success": False, "msg": "No templates found"})
    return json_response({"success": True, "templates_found": len(rows), "templates": rows})


def create(request):
    """POST /api/v0/template/: a new template of the account."""
    body = request.json()
    if not isinstance(body, dict) or not body.get("name") or not body.get("image"):
        raise ApiError(400, {"success": False, "error": "invalid_args", "msg": "name and image are required"})
    values = {key: body[key] for key in FIELDS if body.get(key) is not None}
    fields = {**FIELDS, **values}
    templates()
    with transaction.atomic():
        existing = Template.objects.filter(hash_id=_hash(fields), creator_id=USER_ID).first()
        if existing is not None:
            return json_response({"success": False, "msg": "Existing Template Found", "template": render(existing)})
        template = _new(USER_ID, values, clock.now())
    return json_response(
        {
            "success": True,
            "msg": f"Template Created Successfully! New Template ID: {template.pk}",
            "template": render(template),
        }
    )


def delete(request):
    """DELETE /api/v0/template/ with {template_id} or {hash_id}: only the creator may delete."""
    body = request.json()
    body = body if isinstance(body, dict) else {}
    templates()
    if body.get("template_id") is not None:
        raw = str(body["template_id"])
        found = Template.objects.filter(pk=int(raw)) if raw.isdigit() and len(raw) <= 18 else None
    elif body.get("hash_id"):
        found = Template.objects.filter(hash_id=str(body["hash_id"])).order_by("-creator_id")
    else:
        raise ApiError(400, {"success": False, "error": "invalid_args", "msg": "template_id or hash_id required"})
    template = found.first() if found is not None else None
    if template is None:
        raise ApiError(404, {"success": False, "error": "not_found", "msg": "Template not found."})
    if template.creator_id != USER_ID:
        raise ApiError(401, {"success": False, "error": "not_authorized", "msg": "Only the creator may delete it."})
    template.delete()
    return json_response({"success": True, "msg": f"Template {template.hash_id} deleted."})
