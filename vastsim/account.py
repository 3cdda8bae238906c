"""Account endpoints: current user, API-key listing, GPU names."""

from vastsim import catalog, state
from vastsim.offers import seed
from vastsim.protocol import json_response

USER_ID = 424242
CREDIT = 250.0
ACCOUNT_CREATED = 1_735_689_600.0  # 2025-01-01


def current_user(request):
    """GET /api/v0/users/current: the flat user object, `api_key` included
    as the real API does (a proxy must strip it)."""
    primary = state.api_keys()[0]
    return json_response(
        {
            "id": USER_ID,
            "key_id": primary.pk,
            "api_key": request.api_key,
            "username": "gpu-team",
            "user": "gpu-team",
            "email": "gpu-team@example.com",
            "email_verified": True,
            "fullname": "GPU Team",
            "credit": CREDIT,
            "balance": 0.0,
            "balance_threshold": 10.0,
            "balance_threshold_enabled": True,
            "autobill_threshold": None,
            "autobill_amount": None,
            "billaddress_line1": "1 Example Street",
            "billaddress_line2": None,
            "billaddress_city": "Springfield",
            "billaddress_zip": "12345",
            "billaddress_country": "US",
            "billaddress_taxinfo": None,
            "billing_creditonly": False,
            "can_pay": True,
            "has_billing": True,
            "has_payout": False,
            "host_only": False,
            "host_agreement_accepted": False,
            "last4": "4242",
            "got_signup_credit": True,
            "paid_verified": 0.0,
            "paid_expected": 0.0,
            "billed_verified": 0.0,
            "billed_expected": 0.0,
            "ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbXVsYXRlZC1rZXktZm9yLXRlc3Rz gpu-team@example.com",
            "phone_number": None,
            "paypal_email": None,
            "wise_email": None,
            "password_resettable": True,
            "rights": None,
            "sid": None,
            "created_at": ACCOUNT_CREATED,
            "total_spend": 0.0,
        }
    )


def api_keys(request):
    """GET /api/v0/auth/apikeys/: the keys with their values redacted to null."""
    keys = [
        {
            "id": key.pk,
            "user_id": USER_ID,
            "key": None,
            "key_type": key.key_type,
            "name": key.name,
            "team_id": None,
            "team_name": None,
            "team_owner": None,
        }
        for key in state.api_keys()
    ]
    return json_response({"apikeys": keys})


def gpu_names(request):
    """GET /api/v0/gpu_names/unique/ (public)."""
    return json_response({"gpu_names": catalog.gpu_names(seed())})
