"""Import the account's Vast templates into the team's launch templates.

Only the templates the account created are read (`creator_id` = the account's id; Vast's public
ones are thousands). Each is checked by the launch template form, so by the launch rules; a
template whose name a team template already has, or which breaks a rule (a docker option other
than -e/-p, a bad image reference, ...), is skipped with the reason. One audit row records the
import: pending before Vast is asked, then what was imported and what was skipped.
"""

from dataclasses import dataclass, field

from dashboard import audit, vast
from dashboard.models import Action
from instances import launch_templates
from instances.models import LaunchTemplate
from instances.template_forms import LaunchTemplateForm


@dataclass
class ImportReport:
    """What an import did: the names imported, and (name, reason) for each template skipped."""

    imported: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    @property
    def message(self):
        """One sentence for the page and the audit row."""
        if not self.imported and not self.skipped:
            return "The Vast.ai account has no templates of its own to import."
        parts = []
        if self.imported:
            parts.append(f"Imported {len(self.imported)} template{'s' if len(self.imported) != 1 else ''}: "
                         + ", ".join(f"“{name}”" for name in self.imported) + ".")  # fmt: skip
        if self.skipped:
            parts.append(f"Skipped {len(self.skipped)}: "
                         + "; ".join(f"“{name}” ({reason})" for name, reason in self.skipped) + ".")  # fmt: skip
        return " ".join(parts)


def _first_error(form):
    """The form's first error, named by its field's label."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        return f"{label}: {errors[0]}" if label else errors[0]
    return "invalid"


def _copy(vast_template, user, taken, report):
    """Create the team template for one Vast template, or note in `report` why not."""
    name = (vast_template.name or "").strip() or f"Vast template {vast_template.id}"
    if name.casefold() in taken:
        report.skipped.append((name, "a team template has this name already"))
        return
    try:
        data = launch_templates.from_vast(vast_template, name)
    except ValueError as exc:
        report.skipped.append((name, str(exc)))
        return
    form = LaunchTemplateForm(data)
    if not form.is_valid():
        report.skipped.append((name, _first_error(form)))
        return
    template = form.save(commit=False)
    template.created_by = template.updated_by = user
    template.imported_from = (vast_template.hash_id or str(vast_template.id))[:64]
    template.save()
    taken.add(name.casefold())
    report.imported.append(name)


def import_from_vast(user):
    """Copy the account's Vast templates into team templates; returns the ImportReport. A Vast
    error is audited as the import's failure and raised."""
    action = audit.begin(user, Action.Kind.TEMPLATE_IMPORT)
    try:
        account = vast.current_user()
        found = vast.templates().created_by(account.id)
    except Exception as exc:
        audit.fail(action, exc)
        raise
    report = ImportReport()
    taken = {name.casefold() for name in LaunchTemplate.objects.values_list("name", flat=True)}
    for vast_template in found:
        _copy(vast_template, user, taken, report)
    action.detail = {
        "imported": report.imported,
        "skipped": [{"name": name, "reason": reason} for name, reason in report.skipped],
    }
    action.save(update_fields=["detail"])
    audit.succeed(action, report.message)
    return report
