"""Image URLs: malformed ones are a 400 before any lookup; the fetch connects to exactly the address it checked
(a stub resolver that answers a public address first and 127.0.0.1 afterwards cannot redirect it)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.serve.serve_helpers import image_bytes
from vocabfree.serve import fetch

LABELS = ["red", "green", "blue"]
PUBLIC = "93.184.216.34"


class RebindingResolver:
    """Answers ``PUBLIC`` the first time and 127.0.0.1 every time after (a DNS rebinding attacker)."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return [PUBLIC] if len(self.calls) == 1 else ["127.0.0.1"]


@pytest.fixture
def public_client(make_client):
    """A client whose server refuses private addresses, with a rebinding resolver and a recording transport."""
    client = make_client(allow_private_urls=False)
    services = client.app.state.services
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/hop":
            return httpx.Response(302, headers={"Location": "http://images.example.com/red.png"})
        return httpx.Response(200, content=image_bytes("red"))

    services.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    services.resolve = RebindingResolver()
    return client, services, seen


def test_fetch_connects_to_the_checked_address(public_client):
    client, services, seen = public_client
    url = "http://images.example.com/red.png"
    response = client.post("/v1/classify", json={"image": {"url": url}, "labels": LABELS})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "red"
    assert services.resolve.calls == [("images.example.com", 80)]  # resolved once
    (request,) = seen
    assert request.url.host == PUBLIC and request.headers["host"] == "images.example.com"


def test_each_redirect_hop_is_resolved_and_checked_again(public_client):
    client, services, seen = public_client
    response = client.post("/v1/caption", json={"image": {"url": "http://cdn.example.com:8080/hop"}})
    assert response.status_code == 400, response.text
    assert "non-public address 127.0.0.1" in response.json()["detail"]
    assert [call[0] for call in services.resolve.calls] == ["cdn.example.com", "images.example.com"]
    (request,) = seen  # the second hop was never fetched
    assert request.url.host == PUBLIC and request.headers["host"] == "cdn.example.com:8080"


def test_https_keeps_the_name_for_sni_and_idna_hosts_are_encoded():
    from vocabfree.serve.settings import ServeSettings

    seen: list[httpx.Request] = []
    resolver = RebindingResolver()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=image_bytes("blue"))

    async def run() -> fetch.ImageBytes:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await fetch.fetch_url(http, "https://bücher.example/a.png?x=1", ServeSettings(), resolve=resolver)

    got = asyncio.run(run())
    assert got.data == image_bytes("blue")
    assert resolver.calls == [("xn--bcher-kva.example", 443)]
    (request,) = seen
    assert str(request.url) == f"https://{PUBLIC}/a.png?x=1"
    assert request.extensions["sni_hostname"] == "xn--bcher-kva.example"
    assert request.headers["host"] == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1:1:1/", "malformed"),
        ("http://[::1/", "malformed"),
        ("http://" + "a" * 300 + ".com/x.png", "invalid host name"),
        ("http://" + "b" * 64 + ".example.com/", "invalid host name"),
        ("http://exa\tmple.com/x.png", "control characters"),
        ("http://example.com/a b.png", "control characters"),
        ("http://example.com/\x00.png", "control characters"),
        ("http://a..b/x.png", "invalid host name"),
        ("http://-x.example.com/", "invalid host name"),
        ("http://exa_mple!.com/", "invalid host name"),
        ("http://2130706433/", "non-standard IP"),
        ("http://0x7f.1/", "non-standard IP"),
        ("http://127.1/", "non-standard IP"),
        ("http://user:pw@example.com/x.png", "credentials"),
        ("http://example.com:0/", "port 0"),
        ("http://example.com:99999/", "malformed"),
        ("http://[fe80::1%25eth0]/", "malformed"),
        ("ftp://example.com/x.png", "http"),
        ("//example.com/x.png", "http"),
        ("http://example.com/" + "x" * 3000, "limit is 2048"),
    ],
)
def test_malformed_urls_are_400_before_any_lookup(public_client, url, fragment):
    client, services, seen = public_client
    response = client.post("/v1/classify", json={"image": {"url": url}, "labels": LABELS})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_input" and fragment.lower() in body["detail"].lower(), body
    assert services.resolve.calls == [] and seen == []


def test_malformed_url_in_a_form_field(public_client):
    client, services, _ = public_client
    response = client.post("/v1/caption", data={"image_url": "http://[::1/"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_input"
    assert services.resolve.calls == []


def test_ip_literals_are_checked_without_a_lookup(public_client):
    client, services, seen = public_client
    for url in ("http://127.0.0.1/x.png", "http://[::ffff:127.0.0.1]/x.png", "http://10.0.0.1/x.png"):
        response = client.post("/v1/caption", json={"image": {"url": url}})
        assert response.status_code == 400 and "non-public" in response.json()["detail"], response.text
    assert services.resolve.calls == [] and seen == []


def test_parse_url_keeps_path_and_query():
    parsed = fetch.parse_url("http://Example.COM:8080/a/b.png?size=2#frag")
    assert (parsed.scheme, parsed.host, parsed.port, parsed.target) == ("http", "example.com", 8080, "/a/b.png?size=2")
    assert parsed.at("1.2.3.4") == "http://1.2.3.4:8080/a/b.png?size=2"
    assert fetch.parse_url("https://[2001:db8::1]/").at("2001:db8::1") == "https://[2001:db8::1]:443/"
