from django.urls import path

from offers import views

app_name = "offers"
urlpatterns = [
    path("", views.search, name="search"),
    path("<vast_id:offer_id>/", views.detail, name="detail"),
]
