from django.urls import path

from instances import views as instance_views
from offers import views

app_name = "offers"
urlpatterns = [
    path("", views.search, name="search"),
    path("<int:offer_id>/", views.detail, name="detail"),
    path("<int:offer_id>/launch/", instance_views.launch, name="launch"),
]
