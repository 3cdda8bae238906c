"""Launch template pages: the list (everyone), and creating, editing, deleting and importing them
from Vast (operators and admins: whoever may launch). Every write is audited; a refused write too.
"""

import logging

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from dashboard import audit
from dashboard.models import Action
from dashboard.permissions import forbidden
from instances.forms import IMAGE_PRESETS, RUNTYPE_CHOICES
from instances.models import LaunchTemplate
from instances.rows import SECRET_MASK
from instances.template_forms import LaunchTemplateForm
from instances.template_import import import_from_vast

logger = logging.getLogger(__name__)
EDITORS_ONLY = "Only operators and admins create, edit, delete or import launch templates."
RUNTYPE_LABELS = dict(RUNTYPE_CHOICES)


def _refused(request, kind):
    """A 403 for someone who may not change templates (None if they may); a POST, being a write
    attempt, is audited."""
    if request.user.has_perm("dashboard.launch_instance"):
        return None
    logger.info("forbidden: %s may not %s", request.user, kind)
    if request.method == "POST":
        audit.forbid(request.user, kind, EDITORS_ONLY)
    return forbidden(request, EDITORS_ONLY)


def _record(user, kind, template, message, **detail):
    """The audit row of a template write (done at once: nothing is sent to Vast). The row keeps the
    environment's keys, never its values."""
    keys = sorted({line.partition("=")[0].strip() for line in template.env.splitlines() if "=" in line})
    detail = {"template": template.pk, "name": template.name, "image": template.image, "env_keys": keys, **detail}
    audit.succeed(audit.begin(user, kind, detail=detail), message)


def _masked_env(template):
    """The environment as the list shows it: KEY=•••••• (values only in the edit form)."""
    lines = [line.strip() for line in template.env.splitlines() if line.strip()]
    return [f"{line.partition('=')[0]}={SECRET_MASK}" if "=" in line else line for line in lines]


def _go_to_list(request):
    """Back to the list: a client-side redirect for htmx, a 302 otherwise."""
    url = reverse("templates:index")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
def index(request):
    """Every team template; launchers also see environment keys and on-start scripts."""
    rows = [
        {
            "template": template,
            "runtype": RUNTYPE_LABELS.get(template.runtype, template.runtype),
            "env": _masked_env(template),
        }
        for template in LaunchTemplate.objects.select_related("created_by", "updated_by")
    ]
    return render(request, "launch_templates/index.html", {"rows": rows})


def _form_page(request, form, template=None, status=200):
    context = {"form": form, "template": template, "image_presets": IMAGE_PRESETS}
    return render(request, "launch_templates/form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def create(request):
    """A new template (prefilled from `?from=<id>` to copy one)."""
    refused = _refused(request, Action.Kind.TEMPLATE_CREATE)
    if refused:
        return refused
    if request.method == "GET":
        source = request.GET.get("from", "")
        original = (
            LaunchTemplate.objects.filter(pk=source).first()
            if source.isascii() and source.isdigit() and len(source) <= 18
            else None
        )
        initial = {}
        if original is not None:
            initial = {name: getattr(original, name) for name in LaunchTemplateForm.Meta.fields}
            initial["name"] = f"{original.name} (copy)"[:100]
        return _form_page(request, LaunchTemplateForm(initial=initial))
    form = LaunchTemplateForm(request.POST)
    if not form.is_valid():
        return _form_page(request, form)
    template = form.save(commit=False)
    template.created_by = template.updated_by = request.user
    template.save()
    _record(request.user, Action.Kind.TEMPLATE_CREATE, template, f"Created launch template “{template.name}”.")
    messages.success(request, f"Saved launch template “{template.name}”.")
    return redirect("templates:index")


@require_http_methods(["GET", "POST"])
def edit(request, template_id):
    """Change a template; the audit row names the fields that changed."""
    refused = _refused(request, Action.Kind.TEMPLATE_EDIT)
    if refused:
        return refused
    template = get_object_or_404(LaunchTemplate, pk=template_id)
    if request.method == "GET":
        return _form_page(request, LaunchTemplateForm(instance=template), template)
    fields = LaunchTemplateForm.Meta.fields
    before = {name: getattr(template, name) for name in fields}
    form = LaunchTemplateForm(request.POST, instance=template)
    if not form.is_valid():
        return _form_page(request, form, LaunchTemplate.objects.get(pk=template_id))
    changed = [name for name in fields if getattr(form.instance, name) != before[name]]
    template = form.save(commit=False)
    template.updated_by = request.user
    template.save()
    _record(
        request.user, Action.Kind.TEMPLATE_EDIT, template, f"Edited launch template “{template.name}”.", changed=changed
    )
    messages.success(request, f"Saved launch template “{template.name}”.")
    return redirect("templates:index")


@require_http_methods(["GET", "POST"])
def delete(request, template_id):
    """GET: a confirmation page (without JavaScript); POST: delete the template."""
    refused = _refused(request, Action.Kind.TEMPLATE_DELETE)
    if refused:
        return refused
    template = get_object_or_404(LaunchTemplate, pk=template_id)
    if request.method == "GET":
        return render(request, "launch_templates/delete.html", {"template": template})
    name = template.name
    _record(request.user, Action.Kind.TEMPLATE_DELETE, template, f"Deleted launch template “{name}”.")
    template.delete()
    messages.success(request, f"Deleted launch template “{name}”. Instances launched with it are not affected.")
    return _go_to_list(request)


@require_POST
def import_vast(request):
    """Copy the account's own Vast templates into team templates, skipping clashes and rule breakers."""
    refused = _refused(request, Action.Kind.TEMPLATE_IMPORT)
    if refused:
        return refused
    report = import_from_vast(request.user)
    level = messages.SUCCESS if report.imported and not report.skipped else messages.WARNING
    if not report.imported and not report.skipped:
        level = messages.INFO
    messages.add_message(request, level, report.message)
    return _go_to_list(request)
