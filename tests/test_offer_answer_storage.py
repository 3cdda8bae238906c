"""The offer search's answer handling made cheaper without changing what it gives: the parser's
converters worked out once per class, an answer packed once for both of its cache keys, and the
offers page counting a person's usage only when a cap needs it."""

import dataclasses
import json
import pickle
import typing
from types import MappingProxyType

import httpx
import pytest
from django.core.cache import cache

from dashboard import guardrails, vast
from dashboard.models import Guardrails
from dashboard.vast import OfferSearch, offer_cache, parsing
from dashboard.vast.errors import VastBadResponse
from dashboard.vast.values import Offer

pytestmark = pytest.mark.django_db


def _parse_offer_as_before(data):
    """The parser as it was: each field's type looked up and its converter found per offer."""
    fields = parsing._Fields(data, "offer")
    values = {"reliability": fields.opt("reliability", parsing._to_float)}
    if values["reliability"] is None:
        values["reliability"] = fields.opt("reliability2", parsing._to_float)
    values["raw"] = MappingProxyType({k: v for k, v in data.items() if k not in parsing._SECRET_FIELDS})
    for f in dataclasses.fields(Offer):
        if f.name in values:
            continue
        args = typing.get_args(f.type)
        if type(None) in args:
            values[f.name] = fields.opt(f.name, parsing._COERCERS[args[0]])
        else:
            values[f.name] = fields.need(f.name, parsing._COERCERS[f.type])
    return Offer(**values)


def _whole_market(rental_type="on-demand"):
    """Every offer of the simulator's market, as Vast sends them (JSON objects)."""
    body = OfferSearch(verified_only=False, rental_type=rental_type).to_query()
    body["limit"] = 10_000
    response = vast.get_client()._http.post("/api/v0/bundles/", json=body)
    return response.json()["offers"]


@pytest.mark.parametrize("rental_type", ["on-demand", "bid"])
def test_parsing_with_converters_worked_out_once_equals_the_old_parsing(upstream, rental_type):
    items = _whole_market(rental_type)
    assert len(items) > 100
    parsed = parsing.parse_offers({"offers": items})
    for item, offer in zip(items, parsed, strict=True):
        before = _parse_offer_as_before(item)
        assert offer == before
        assert dict(offer.raw) == dict(before.raw)
        assert [type(getattr(offer, f.name)) for f in dataclasses.fields(Offer)] == [
            type(getattr(before, f.name)) for f in dataclasses.fields(Offer)
        ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dph_total": None}, "offer.dph_total is missing"),
        ({"num_gpus": "two"}, "offer.num_gpus is an ill-typed str"),
        ({"gpu_ram": 1.5}, "offer.gpu_ram is an ill-typed float"),
        ({"dlperf": float("inf")}, "offer.dlperf is an ill-typed float"),
        ({"rentable": 2}, "offer.rentable is an ill-typed int"),
        ({"verification": 3}, "offer.verification is an ill-typed int"),
    ],
)
def test_ill_typed_or_missing_fields_are_still_refused_by_name(upstream, change, message):
    item = {**_whole_market()[0], **change}
    with pytest.raises(VastBadResponse) as refused:
        parsing.parse_offers({"offers": [item]})
    assert refused.value.msg == message


def test_offers_built_without_the_generated_init_are_still_frozen_values(upstream):
    item = _whole_market()[0]
    offer = parsing.parse_offers({"offers": [item]})[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        offer.dph_total = 0.0
    assert hash(offer) == hash(_parse_offer_as_before(item))
    assert dataclasses.replace(offer, dph_total=1.0).dph_total == 1.0
    assert pickle.loads(pickle.dumps(offer)) == offer


def test_numbers_sent_as_strings_or_integral_floats_still_parse():
    item = {"id": "7", "gpu_name": "RTX 4090", "num_gpus": 2.0, "dph_total": "0.5", "rentable": 1}
    offer = parsing.parse_offers({"offers": [item]})[0]
    assert (offer.id, offer.num_gpus, offer.dph_total, offer.rentable) == (7, 2, 0.5, True)
    assert type(offer.num_gpus) is int
    assert type(offer.dph_total) is float


def test_secret_fields_are_still_dropped_from_raw():
    item = {"id": 1, "gpu_name": "A", "num_gpus": 1, "dph_total": 1.0, "api_key": "secret"}
    offer = parsing.parse_offers({"offers": [item]})[0]
    assert "api_key" not in offer.raw
    assert offer.raw["id"] == 1


def test_one_packing_serves_both_cache_keys(upstream, monkeypatch):
    packs = []
    real_pack = offer_cache._pack
    monkeypatch.setattr(offer_cache, "_pack", lambda entry: packs.append(entry) or real_pack(entry))
    search = OfferSearch(gpu_names=("RTX 4090",))
    results = vast.search_offers_cached(search)
    assert len(packs) == 1
    key = offer_cache._offers_key(search)
    fresh, stale = cache.get(key), cache.get(f"{key}:stale")
    assert isinstance(fresh, bytes)
    assert fresh == stale
    for packed in (fresh, stale):
        as_of, offers = offer_cache._unpack(packed)
        assert as_of == results.as_of
        assert offers == results.answer
        assert [dict(o.raw) for o in offers] == [dict(o.raw) for o in results.answer]


@pytest.fixture
def vast_answering(settings):
    """Install a Vast client whose every offer search is answered with the bytes given to the
    returned function (a JSON object), recording the bytes it sent."""
    sent = []

    def install(body, content_type="application/json"):
        def handler(request):
            sent.append(body)
            return httpx.Response(200, content=body, headers={"Content-Type": content_type})

        vast._client = vast.VastClient(api_key="k" * 20, transport=httpx.MockTransport(handler))
        return sent

    yield install
    vast.reset_client()


def _offer_json(**extra):
    return {"id": 7, "gpu_name": "RTX 4090", "num_gpus": 1, "dph_total": 0.4, "geolocation": "Montréal, CA", **extra}


def test_the_cache_keeps_vasts_answer_as_it_came_and_reads_it_back_the_same(vast_answering):
    body = json.dumps({"offers": [_offer_json(), _offer_json(id=8, dph_total=0.5)]}).encode()  # \u-escaped é
    sent = vast_answering(body)
    search = OfferSearch(verified_only=False)
    results = vast.search_offers_cached(search)
    as_of, kept = pickle.loads(cache.get(offer_cache._offers_key(search)))
    assert kept == sent[0]
    assert offer_cache._unpack(cache.get(offer_cache._offers_key(search))) == (as_of, results.answer)
    assert results.answer[0].geolocation == "Montréal, CA"


@pytest.mark.parametrize(
    "answer",
    [
        {"offers": [_offer_json(api_key="sk-vast-secret-1234")]},
        {"offers": [_offer_json()], "api_key": "sk-vast-secret-1234"},
    ],
    ids=["in-an-offer", "beside-the-offers"],
)
def test_an_answer_naming_a_secret_is_kept_without_it(vast_answering, answer):
    vast_answering(json.dumps(answer).encode())
    search = OfferSearch(verified_only=False)
    results = vast.search_offers_cached(search)
    for key in (offer_cache._offers_key(search), f"{offer_cache._offers_key(search)}:stale"):
        packed = cache.get(key)
        assert b"sk-vast-secret" not in packed
        assert offer_cache._unpack(packed)[1] == results.answer
    assert "api_key" not in results.answer[0].raw


def test_an_answer_only_the_standard_library_reads_is_kept_and_read_back(vast_answering):
    body = json.dumps({"offers": [_offer_json(vast_extra=float("nan"))]}).encode("utf-16")
    vast_answering(body, "application/json; charset=utf-16")
    search = OfferSearch(verified_only=False)
    results = vast.search_offers_cached(search)
    as_of, offers = offer_cache._unpack(cache.get(offer_cache._offers_key(search)))
    assert offers == results.answer
    assert offers[0].geolocation == "Montréal, CA"


def test_an_answer_read_back_from_the_cache_is_the_one_fetched(upstream):
    search = OfferSearch(verified_only=False)
    first = vast.search_offers_cached(search)
    again = vast.search_offers_cached(search)
    assert len(upstream.calls("POST", "/bundles/")) == 1
    assert list(again) == list(first)
    assert again.answer == first.answer
    assert again.as_of == first.as_of
    assert vast.peek_offers(search).answer == first.answer


@pytest.mark.parametrize(
    "left",
    [
        (0.0, []),
        pickle.dumps((0.0, [{"id": "not a number"}])),
        pickle.dumps((0.0, b'{"offers": [{"id": "not a number"}]}')),
        pickle.dumps((0.0, b"<html>not json</html>")),
    ],
    ids=["another shape", "unparsable", "unparsable answer", "not json"],
)
def test_what_an_older_version_left_under_the_key_is_a_miss(upstream, left):
    search = OfferSearch(gpu_names=("RTX 4090",))
    cache.set(offer_cache._offers_key(search), left, 60)
    assert vast.search_offers_cached(search)  # fetched again, not a crash
    assert len(upstream.calls("POST", "/bundles/")) == 1


def _count_usage(monkeypatch):
    calls = []

    def provider(user):
        calls.append(user)
        return guardrails.Usage(running=1, in_flight=0, month_spend=12.0)

    monkeypatch.setattr(guardrails, "_usage_provider", provider)
    return calls


def test_the_offers_page_counts_no_usage_when_no_cap_is_set(operator, monkeypatch):
    calls = _count_usage(monkeypatch)
    limits = guardrails.launch_limits(operator, caps_only=True)
    assert calls == []
    assert limits.usage is None
    assert limits.blocked == ""
    assert guardrails.launch_limits(operator).usage.running == 1  # the launch form still shows usage
    assert len(calls) == 1


@pytest.mark.parametrize("caps", [{"max_running_per_user": 1}, {"monthly_cap_per_user": 10}])
def test_with_a_cap_the_offers_page_counts_usage_as_before(operator, monkeypatch, caps):
    calls = _count_usage(monkeypatch)
    Guardrails.objects.update_or_create(pk=1, defaults=caps)
    limits = guardrails.launch_limits(operator, caps_only=True)
    assert len(calls) == 1
    assert limits == guardrails.launch_limits(operator)
    assert limits.blocked
