from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import account, team, views
from instances import audit

team_patterns = (
    [
        path("", team.users, name="users"),
        path("add/", team.add_user, name="add_user"),
        path("<int:user_id>/", team.edit_user, name="edit_user"),
        path("guardrails/", team.guardrails, name="guardrails"),
    ],
    "team",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("offers/", include("offers.urls")),
    path("instances/", include("instances.urls")),
    path("audit/", audit.audit, name="audit"),
    path("keys/", account.keys, name="keys"),
    path("account/", account.account, name="account"),
    path("team/", include(team_patterns)),
]
