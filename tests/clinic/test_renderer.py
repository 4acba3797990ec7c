"""The API's JSON renderer (orjson) writes the bytes DRF's own renderer writes."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
import zoneinfo

import pytest
from django.conf import settings
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from clinic.api.renderers import JSONRenderer

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")

PAYLOADS = {
    "datetimes": {
        "utc": dt.datetime(2027, 3, 1, 17, 0, tzinfo=dt.UTC),
        "utc_micro": dt.datetime(2027, 3, 1, 17, 0, 0, 123456, tzinfo=dt.UTC),
        "local": dt.datetime(2027, 3, 14, 3, 30, tzinfo=NEW_YORK),
        "naive": dt.datetime(2027, 3, 1, 9, 15, 30),
        "date": dt.date(2027, 3, 1),
        "time": dt.time(8, 0),
        "time_micro": dt.time(8, 0, 0, 500),
        "timedelta": dt.timedelta(minutes=90),
    },
    "numbers": [0, -1, 2**63 - 1, -(2**63), 0.1, 1.5, -2.25, 98.6, 1e15, True, False, None],
    "decimal": [decimal.Decimal("72.50"), decimal.Decimal("0.1"), decimal.Decimal("100")],
    "identifiers": [uuid.UUID("12345678-1234-5678-1234-567812345678"), ipaddress.ip_address("10.0.0.1")],
    "lazy": gettext_lazy("Booked"),
    "text": ["plain", "é ü ß 日本 🙂", 'quote " backslash \\ slash /', "tab\tnew\nline\rcr\x00\x1f\x7f", ""],
    "separators": "line\u2028paragraph\u2029end",
    "nested": {"a": [{"b": [1, [2, [3]]], "c": {}}], "empty": []},
    "tuple": (1, "two"),
    "set_like": frozenset(),
    "bytes": b"raw",
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_same_bytes_as_drf(name):
    data = PAYLOADS[name]
    assert JSONRenderer().render(data) == DrfJSONRenderer().render(data)


def test_whole_payload_and_what_orjson_refuses_fall_back_to_the_same_bytes():
    for data in (PAYLOADS, {"big": 2**64}, {1: "int key"}, {"deep": _nested(300)}):
        assert JSONRenderer().render(data) == DrfJSONRenderer().render(data)
    assert JSONRenderer().render(None) == b""


def test_indent_requests_are_pretty_printed_as_drf_does():
    data = {"a": [1, {"b": "c"}]}
    for media_type, context in (("application/json; indent=4", None), (None, {"indent": 2})):
        ours = JSONRenderer().render(data, media_type, context)
        assert ours == DrfJSONRenderer().render(data, media_type, context)
        assert b"\n" in ours


def test_floats_may_differ_in_form_but_never_in_value():
    """orjson writes the shortest decimal form (0.00001, not DRF's 1e-05): the same number."""
    import json

    data = {"tiny": [1e-05, 2.5e-05, 0.0001, 1e-7], "huge": [1e16, 1.5e300], "odd": [1 / 3, -0.0]}
    assert json.loads(JSONRenderer().render(data)) == json.loads(DrfJSONRenderer().render(data))


def test_unserialisable_values_fail_as_with_drf():
    with pytest.raises(TypeError):
        DrfJSONRenderer().render({"x": object()})
    with pytest.raises(TypeError):
        JSONRenderer().render({"x": object()})


def test_the_api_uses_it(api_client):
    assert settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"][0] == "clinic.api.renderers.JSONRenderer"
    response = api_client.get("/api/v1/sessions/")  # a problem answer (401) is rendered by it too
    assert response.status_code == 401
    assert isinstance(response.accepted_renderer, JSONRenderer)
    assert response.json()["status"] == 401


def _nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value
