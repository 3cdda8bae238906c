"""The root URLconf: the one place that knows every app, so the apps need not know each other."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import audit_log, keys, notifications, passwords, team, views
from instances import health, overview, policy_views, ssh_views
from instances.launch import launch
from offers import urls as offer_urls

team_patterns = (
    [
        path("", team.users, name="users"),
        path("add/", team.add_user, name="add_user"),
        path("<int:user_id>/", team.edit_user, name="edit_user"),
        path("<int:user_id>/reset-link/", team.reset_link, name="reset_link"),
        path("guardrails/", team.guardrails, name="guardrails"),
        path("policies/", policy_views.policies, name="policies"),
    ],
    "team",
)

# Ids are positive BIGINTs: vast_id's range check keeps an overflowing number from reaching the database.
notification_patterns = (
    [
        path("", notifications.index, name="index"),
        path("bell/", notifications.bell, name="bell"),
        path("<vast_id:notification_id>/read/", notifications.read, name="read"),
        path("read-all/", notifications.read_all, name="read_all"),
        path("settings/", notifications.preferences, name="settings"),
        path("settings/test-webhook/", notifications.test_webhook, name="test_webhook"),
    ],
    "notifications",
)

ssh_key_patterns = (
    [
        path("", ssh_views.keys, name="index"),
        path("<vast_id:key_id>/remove/", ssh_views.remove, name="remove"),
    ],
    "ssh_keys",
)

# Launching is the instances app's, but its URL sits under the offer it launches.
offer_patterns = ([*offer_urls.urlpatterns, path("<vast_id:offer_id>/launch/", launch, name="launch")], "offers")

urlpatterns = [
    path("", overview.overview, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/worker", health.worker, name="healthz_worker"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", passwords.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "accounts/reset/<uidb64>/<token>/", passwords.PasswordResetConfirmView.as_view(), name="password_reset_confirm"
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("offers/", include(offer_patterns)),
    path("instances/", include("instances.urls")),
    path("audit/", audit_log.audit, name="audit"),
    path("keys/", keys.keys, name="keys"),
    path("account/", overview.account, name="account"),
    path("account/ssh-keys/", include(ssh_key_patterns)),
    path("team/", include(team_patterns)),
    path("notifications/", include(notification_patterns)),
    path("templates/", include("instances.template_urls")),
]
