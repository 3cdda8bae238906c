from django.urls import path

from instances import history, views

app_name = "instances"
urlpatterns = [
    path("", views.index, name="index"),
    path("history/", history.history, name="history"),
    path("<vast_id:instance_id>/", views.detail, name="detail"),
    path("<vast_id:instance_id>/row/", views.row, name="row"),
    path("<vast_id:instance_id>/start/", views.start, name="start"),
    path("<vast_id:instance_id>/stop/", views.stop, name="stop"),
    path("<vast_id:instance_id>/label/", views.label, name="label"),
    path("<vast_id:instance_id>/destroy/", views.destroy, name="destroy"),
]
