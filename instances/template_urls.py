"""/templates/: the team's launch templates (routed from the root URLconf). Template ids use the
`vast_id` converter too: digits in 1..2^63-1, so an id no database column holds matches no URL."""

from django.urls import path

from instances import template_views

app_name = "templates"
urlpatterns = [
    path("", template_views.index, name="index"),
    path("new/", template_views.create, name="create"),
    path("import/", template_views.import_vast, name="import"),
    path("<vast_id:template_id>/", template_views.edit, name="edit"),
    path("<vast_id:template_id>/delete/", template_views.delete, name="delete"),
]
