from django.urls import path

from instances import history, views

app_name = "instances"
urlpatterns = [
    path("", views.index, name="index"),
    path("history/", history.history, name="history"),
    path("<int:instance_id>/", views.detail, name="detail"),
    path("<int:instance_id>/row/", views.row, name="row"),
    path("<int:instance_id>/start/", views.start, name="start"),
    path("<int:instance_id>/stop/", views.stop, name="stop"),
    path("<int:instance_id>/label/", views.label, name="label"),
    path("<int:instance_id>/destroy/", views.destroy, name="destroy"),
]
