from django.urls import path

from instances import bulk, console, history, policy_views, ssh_views, views

app_name = "instances"
urlpatterns = [
    path("", views.index, name="index"),
    path("history/", history.history, name="history"),
    path("bulk/", bulk.bulk, name="bulk"),
    path("<vast_id:instance_id>/", views.detail, name="detail"),
    path("<vast_id:instance_id>/row/", views.row, name="row"),
    path("<vast_id:instance_id>/start/", views.start, name="start"),
    path("<vast_id:instance_id>/stop/", views.stop, name="stop"),
    path("<vast_id:instance_id>/label/", views.label, name="label"),
    path("<vast_id:instance_id>/destroy/", views.destroy, name="destroy"),
    path("<vast_id:instance_id>/ssh/", ssh_views.access, name="ssh_access"),
    path("<vast_id:instance_id>/ssh/attach/", ssh_views.attach, name="ssh_attach"),
    path("<vast_id:instance_id>/ssh/<vast_id:key_id>/detach/", ssh_views.detach, name="ssh_detach"),
    path("<vast_id:instance_id>/logs/", console.logs, name="logs"),
    path("<vast_id:instance_id>/logs/panel/", console.logs_panel, name="logs_panel"),
    path("<vast_id:instance_id>/reboot/", console.reboot, name="reboot"),
    path("<vast_id:instance_id>/bid/", console.bid, name="bid"),
    path("<vast_id:instance_id>/extend/", policy_views.extend, name="extend"),
    path("<vast_id:instance_id>/keep/", policy_views.keep, name="keep"),
]
