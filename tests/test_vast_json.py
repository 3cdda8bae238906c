"""How the service module reads Vast's JSON: orjson first, the standard library for what orjson
refuses, and a clear VastBadResponse (never a traceback) for what is not JSON at all."""

import json

import httpx
import pytest

from dashboard.vast import VastBadResponse, VastClient
from tests.test_vast import OFFER as OFFER_FIELDS

OFFER = json.dumps(OFFER_FIELDS)


def client_answering(content, content_type="application/json"):
    def handler(request):
        return httpx.Response(200, content=content, headers={"Content-Type": content_type})

    return VastClient(api_key="k" * 20, base_url="https://vast.test", transport=httpx.MockTransport(handler))


def test_an_answer_orjson_reads_is_parsed():
    offers = client_answering(f'{{"offers": [{OFFER}]}}'.encode()).search_offers({"limit": 1})
    assert [(offer.id, offer.gpu_name, offer.dph_total) for offer in offers] == [
        (OFFER_FIELDS["id"], OFFER_FIELDS["gpu_name"], OFFER_FIELDS["dph_total"])
    ]


def test_nan_which_orjson_refuses_is_read_by_the_standard_library():
    # Python's json writes NaN for a float nan; Vast's numbers come from Python.
    body = f'{{"offers": [{OFFER[:-1]}, "vast_extra": NaN}}]}}'.encode()
    offers = client_answering(body).search_offers({"limit": 1})
    assert offers[0].id == OFFER_FIELDS["id"]
    assert offers[0].raw["vast_extra"] != offers[0].raw["vast_extra"]  # NaN, kept as the API sent it


def test_utf16_which_orjson_refuses_is_read_by_the_standard_library():
    body = f'{{"offers": [{OFFER}]}}'.encode("utf-16")
    offers = client_answering(body, "application/json; charset=utf-16").search_offers({"limit": 1})
    assert offers[0].gpu_name == OFFER_FIELDS["gpu_name"]


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b"", b'{"offers": [', b"[" * 100_000 + b"]" * 100_000],
    ids=["html", "empty", "truncated", "nested-past-the-recursion-limit"],
)
def test_what_is_not_json_is_a_bad_response(body):
    with pytest.raises(VastBadResponse) as raised:
        client_answering(body).search_offers({"limit": 1})
    assert raised.value.msg == "answer is not JSON"
