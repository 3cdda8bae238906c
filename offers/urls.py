from django.urls import path

from offers import column_views, saved_views, views

app_name = "offers"
urlpatterns = [
    path("", views.search, name="search"),
    path("columns/", column_views.columns, name="columns"),
    path("saved/", saved_views.saved_list, name="saved"),
    path("saved/<int:pk>/rename/", saved_views.saved_rename, name="saved-rename"),
    path("saved/<int:pk>/alert/", saved_views.saved_alert, name="saved-alert"),
    path("saved/<int:pk>/delete/", saved_views.saved_delete, name="saved-delete"),
    path("<vast_id:offer_id>/", views.detail, name="detail"),
]
