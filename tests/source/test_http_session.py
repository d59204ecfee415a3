"""The HTTP client's session reads the proxy environment once per origin, with requests' answers;
requests prepared once per request line carry each call's own body and headers."""

from __future__ import annotations

import pytest
import requests

from auditor.http_client import _TEMPLATES, EnvironmentOnce, HttpClient
from tests.notify.servers import LocalServer, Reply, Request

URLS = ("https://rekor.example/api/v1/log", "https://rekor.example/api/v1/log/entries/retrieve",
        "http://127.0.0.1:3000/api/v1/log", "https://internal.corp/files/sha2-256:ab")


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY",
                 "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3129")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.corp")


@pytest.mark.usefixtures("proxied")
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("stream", [True, None])
def test_settings_are_requests_own(url: str, stream: bool | None) -> None:
    plain, once = requests.Session(), EnvironmentOnce()
    expected = plain.merge_environment_settings(url, {}, stream, None, None)
    assert once.merge_environment_settings(url, {}, stream, None, None) == expected
    assert once.merge_environment_settings(url, {}, stream, None, None) == expected


@pytest.mark.usefixtures("proxied")
def test_the_proxy_is_chosen_per_host() -> None:
    once = EnvironmentOnce()
    proxies = once.merge_environment_settings(URLS[0], {}, True, None, None)["proxies"]
    assert proxies["https"] == "http://proxy.corp:3128"
    assert proxies["http"] == "http://proxy.corp:3129"
    # no_proxy hosts go direct: requests gives them no proxy at all.
    assert once.merge_environment_settings(URLS[2], {}, True, None, None)["proxies"] == {}
    assert once.merge_environment_settings(URLS[3], {}, True, None, None)["proxies"] == {}


@pytest.mark.usefixtures("proxied")
def test_the_environment_is_read_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    once = EnvironmentOnce()
    first = once.merge_environment_settings(URLS[0], {}, True, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:1")
    assert once.merge_environment_settings(URLS[1], {}, True, None, None) == first
    other = once.merge_environment_settings("https://other.example/", {}, True, None, None)
    assert other["proxies"]["https"] == "http://elsewhere:1"


@pytest.mark.usefixtures("proxied")
def test_explicit_proxies_and_a_changed_caller_copy() -> None:
    once = EnvironmentOnce()
    explicit = once.merge_environment_settings(URLS[0], {"https": "http://mine:8"}, True, None,
                                               None)
    assert explicit["proxies"]["https"] == "http://mine:8"
    given = once.merge_environment_settings(URLS[0], {}, True, None, None)
    given["proxies"].clear()
    given["verify"] = False
    again = once.merge_environment_settings(URLS[0], {}, True, None, None)
    assert again["proxies"]["https"] == "http://proxy.corp:3128" and again["verify"] is True


def test_requests_prepared_once_carry_each_calls_body_and_headers() -> None:
    with LocalServer(lambda request: Reply(200, request.body or b"-")) as server, \
            HttpClient("test", requests_per_second=1e6) as client:
        url = f"{server.url}/api/v1/log/entries/retrieve"
        answers = [client.call("POST", url, json_body={"entryUUIDs": [str(n) * n]},
                               decode=lambda content, _where: content) for n in (3, 1, 12)]
        client.exchange("POST", url, json_body={"a": 1}, headers={"X-Extra": "yes"})
        client.exchange("POST", url, json_body={"a": 2})
        assert client.get(url) == b"-"
        assert client.call("GET", url, params={"q": "x"}, decode=lambda c, _w: c) == b"-"
    sent: list[Request] = server.requests
    assert answers == [b'{"entryUUIDs":["333"]}', b'{"entryUUIDs":["1"]}',
                       b'{"entryUUIDs":["121212121212121212121212"]}']
    assert [(r.method, r.body) for r in sent[3:5]] == [("POST", b'{"a":1}'), ("POST", b'{"a":2}')]
    assert [r.headers.get("x-extra") for r in sent] == [None, None, None, "yes", None, None, None]
    for request in sent[:5]:
        assert int(request.headers["content-length"]) == len(request.body) > 0
        assert request.headers["content-type"] == "application/json"
    for request in sent[5:]:
        assert request.method == "GET" and request.body == b""
        assert "content-type" not in request.headers and "content-length" not in request.headers
    assert [r.query for r in sent[5:]] == [{}, {"q": ["x"]}]
    assert len({r.headers["user-agent"] for r in sent}) == 1


def test_prepared_requests_are_bounded_and_each_url_is_its_own() -> None:
    with LocalServer(lambda request: Reply(200, request.path.encode() + request.body)) \
            as server, HttpClient("test", requests_per_second=1e6) as client:
        paths = [f"/api/{n:03d}" for n in range(_TEMPLATES * 2 + 5)]
        answers = [client.call("POST", server.url + path, json_body=n,
                               decode=lambda content, _where: content)
                   for n, path in enumerate(paths)]
        assert answers == [f"{path}{n}".encode() for n, path in enumerate(paths)]
        assert 0 < len(client._templates) <= _TEMPLATES
        assert client.get(server.url + "/tile/0/001") == b"/tile/0/001"
