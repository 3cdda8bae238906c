"""Saved searches on /offers/saved/: save from the offers page, list mine and the team's, re-run,
rename, delete (own; admins any), unknown filters dropped with a note."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.models import Action
from offers.models import SavedSearch


def save(client, name="4090s", query="gpu=RTX+4090&num_gpus=2", **extra):
    return client.post("/offers/saved/", {"name": name, "query": query, **extra})


def test_the_offers_page_offers_to_save_its_query(viewer_client, upstream):
    page = viewer_client.get("/offers/?gpu=RTX+4090&num_gpus=2&verified=true").content.decode()
    assert 'action="/offers/saved/"' in page
    assert 'name="query" value="gpu=RTX+4090&amp;num_gpus=2"' in page
    assert 'href="/offers/saved/"' in page


def test_save_and_list_with_rerun_link_and_best_match_from_the_cache(operator_client, operator, upstream):
    operator_client.get("/offers/?gpu=RTX+4090&num_gpus=2")  # the page's search fills the shared cache
    searches = len(upstream.calls("POST", "/bundles"))
    response = save(operator_client)
    assert response.status_code == 302
    assert response["Location"] == "/offers/saved/"
    saved = SavedSearch.objects.get()
    assert (saved.owner, saved.name, saved.query, saved.shared) == (operator, "4090s", "gpu=RTX+4090&num_gpus=2", False)
    page = operator_client.get("/offers/saved/").content.decode()
    assert 'href="/offers/?gpu=RTX+4090&amp;num_gpus=2"' in page
    assert "/GPU·hr" in page
    assert len(upstream.calls("POST", "/bundles")) == searches, "the list asks Vast nothing on a cache hit"


def test_a_cache_miss_shows_a_dash_and_refresh_asks_vast_once(operator_client, upstream):
    save(operator_client, query="gpu=A40")
    before = len(upstream.calls("POST", "/bundles"))
    page = operator_client.get("/offers/saved/").content.decode()
    assert "Refresh" in page
    assert len(upstream.calls("POST", "/bundles")) == before
    saved = SavedSearch.objects.get()
    page = operator_client.get(f"/offers/saved/?refresh={saved.id}").content.decode()
    assert len(upstream.calls("POST", "/bundles")) == before + 1
    assert "A40" in page


def test_unknown_and_invalid_parameters_are_dropped_with_a_note(operator_client, upstream):
    data = {"name": "x", "query": "gpu=RTX+4090&colour=blue&num_gpus=lots&history=30"}
    response = operator_client.post("/offers/saved/", data, follow=True)
    saved = SavedSearch.objects.get()
    assert saved.query == "gpu=RTX+4090"
    text = response.content.decode()
    assert "colour" in text
    assert "num_gpus (invalid value)" in text


def test_a_stored_query_with_a_removed_field_still_runs(operator_client, operator, upstream):
    SavedSearch.objects.create(owner=operator, name="old", query="gpu=A40&legacy_field=1")
    page = operator_client.get("/offers/saved/").content.decode()
    assert "legacy_field" in page
    assert 'href="/offers/?gpu=A40"' in page


def test_shared_searches_are_listed_for_the_team_but_only_owners_and_admins_edit(
    operator_client, other_operator_client, admin_client, operator, upstream
):
    save(operator_client, name="team one", shared="on")
    save(operator_client, name="private one")
    theirs = other_operator_client.get("/offers/saved/").content.decode()
    assert "team one" in theirs
    assert "private one" not in theirs
    shared = SavedSearch.objects.get(name="team one")
    private = SavedSearch.objects.get(name="private one")
    assert other_operator_client.post(f"/offers/saved/{shared.id}/rename/", {"name": "x"}).status_code == 403
    assert other_operator_client.post(f"/offers/saved/{shared.id}/delete/").status_code == 403
    assert other_operator_client.post(f"/offers/saved/{private.id}/delete/").status_code == 404
    assert admin_client.post(f"/offers/saved/{shared.id}/rename/", {"name": "renamed"}).status_code == 302
    shared.refresh_from_db()
    assert shared.name == "renamed"
    assert admin_client.post(f"/offers/saved/{shared.id}/delete/").status_code == 302
    assert not SavedSearch.objects.filter(pk=shared.pk).exists()


def test_rename_and_delete_with_confirmation(operator_client, upstream):
    save(operator_client)
    saved = SavedSearch.objects.get()
    operator_client.post(f"/offers/saved/{saved.id}/rename/", {"name": "  Cheap 4090 pairs "})
    saved.refresh_from_db()
    assert saved.name == "Cheap 4090 pairs"
    confirm = operator_client.get(f"/offers/saved/{saved.id}/delete/")
    assert confirm.status_code == 200
    assert "Delete “Cheap 4090 pairs”?" in confirm.content.decode()
    assert SavedSearch.objects.filter(pk=saved.pk).exists(), "asking is not deleting"
    operator_client.post(f"/offers/saved/{saved.id}/delete/")
    assert not SavedSearch.objects.exists()


@pytest.mark.parametrize("data", [{"name": "", "query": "gpu=A40"}, {"name": "x", "max_dph_per_gpu": "-1"}])
def test_invalid_saves_store_nothing(operator_client, upstream, data):
    response = operator_client.post("/offers/saved/", data)
    assert response.status_code == 302
    assert not SavedSearch.objects.exists()


def test_the_save_form_accepts_an_alert(operator_client, upstream):
    save(operator_client, max_dph_per_gpu="0.25", min_offers="3")
    saved = SavedSearch.objects.get()
    assert saved.has_alert
    assert saved.min_offers == 3
    page = operator_client.get("/offers/saved/").content.decode()
    assert "under $0.25/GPU·hr, at least 3 offers" in page
    assert "not checked yet" in page
    saved.checked_at = timezone.now() - timedelta(minutes=4)
    saved.save(update_fields=["checked_at"])
    assert "checked 4\xa0minutes ago" in operator_client.get("/offers/saved/").content.decode()


def test_the_save_form_follows_the_filters_in_htmx_updates(viewer_client, upstream):
    page = viewer_client.get("/offers/?gpu=A40&num_gpus=4", headers={"HX-Request": "true"}).content.decode()
    assert 'name="query" value="gpu=A40&amp;num_gpus=4"' in page


def audit_rows(kind):
    return list(Action.objects.filter(kind=kind).order_by("id"))


def test_every_saved_search_write_is_audited_with_before_and_after(operator_client, operator, upstream):
    save(operator_client, shared="on", max_dph_per_gpu="0.25")
    saved = SavedSearch.objects.get()
    (created,) = audit_rows(Action.Kind.SEARCH_SAVE)
    assert (created.user, created.outcome) == (operator, Action.Outcome.SUCCESS)
    assert created.detail["target"] == f"saved search {saved.pk}"
    assert created.detail["before"] is None
    assert created.detail["after"] == {
        "name": "4090s",
        "query": "gpu=RTX+4090&num_gpus=2",
        "shared": True,
        "max_dph_per_gpu": "0.25",
        "min_offers": None,
        "notify_to": "me",
    }
    assert "under $0.25/GPU·hr, for the owner" in created.message

    operator_client.post(f"/offers/saved/{saved.pk}/rename/", {"name": "pairs"})
    (renamed,) = audit_rows(Action.Kind.SEARCH_RENAME)
    assert (renamed.detail["before"], renamed.detail["after"]) == ({"name": "4090s"}, {"name": "pairs"})
    assert "“4090s” → “pairs”" in renamed.message

    operator_client.post(f"/offers/saved/{saved.pk}/alert/", {"min_offers": "3", "notify_to": "team"})
    operator_client.post(f"/offers/saved/{saved.pk}/alert/", {"max_dph_per_gpu": "", "min_offers": ""})
    set_, cleared = audit_rows(Action.Kind.SEARCH_ALERT)
    assert set_.detail["before"] == {"max_dph_per_gpu": "0.25", "min_offers": None, "notify_to": "me"}
    assert set_.detail["after"] == {"max_dph_per_gpu": None, "min_offers": 3, "notify_to": "team"}
    assert "at least 3 offers, for the owner and the team webhook" in set_.message
    assert cleared.detail["after"] == {"max_dph_per_gpu": None, "min_offers": None, "notify_to": "me"}
    assert cleared.message.endswith("→ none.")

    operator_client.post(f"/offers/saved/{saved.pk}/delete/")
    (deleted,) = audit_rows(Action.Kind.SEARCH_DELETE)
    assert deleted.detail["before"]["name"] == "pairs"
    assert deleted.detail["after"] is None
    assert all(row.user == operator and "subject" not in row.detail for row in Action.objects.all())
    log = operator_client.get("/audit/").content.decode()
    assert "Delete saved search" in log
    assert "Rename saved search" in log


def test_an_admins_change_to_someone_elses_search_names_its_owner(operator_client, admin_client, admin, upstream):
    save(operator_client, shared="on")
    saved = SavedSearch.objects.get()
    admin_client.post(f"/offers/saved/{saved.pk}/delete/")
    (deleted,) = audit_rows(Action.Kind.SEARCH_DELETE)
    assert (deleted.user, deleted.detail["subject"]) == (admin, "otto")


def test_refused_and_invalid_writes_leave_no_audit_row(operator_client, other_operator_client, upstream):
    save(operator_client, shared="on")
    saved = SavedSearch.objects.get()
    other_operator_client.post(f"/offers/saved/{saved.pk}/rename/", {"name": "mine now"})
    operator_client.post(f"/offers/saved/{saved.pk}/rename/", {"name": ""})
    operator_client.post(f"/offers/saved/{saved.pk}/alert/", {"max_dph_per_gpu": "-1"})
    assert list(Action.objects.values_list("kind", flat=True)) == [Action.Kind.SEARCH_SAVE]
