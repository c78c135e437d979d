"""Fetching ``image.url``: a URL is parsed and its host checked before any lookup, resolved once, and
fetched from exactly the address that was checked.

Why not just ``httpx.get(url)``: checking an address and then letting the HTTP client resolve the name
again is DNS rebinding (the second answer can be 127.0.0.1). Here the name is resolved once, every address
is checked (SSRF guard), and the request goes to that IP with the original ``Host`` header and TLS SNI, so
certificates are still verified against the name. Redirects repeat the whole check per hop.

Malformed URLs (control characters, bad ports, unbalanced brackets, over-long or invalid host names) are a
400 before anything is resolved; the resolver is injectable (``resolve=``) so tests can answer with a stub.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
import idna

from vocabfree.errors import ImageLoadError, InvalidInputError
from vocabfree.serve.errors import PayloadTooLargeError
from vocabfree.serve.inputs import ImageBytes, check_image_size
from vocabfree.serve.settings import ServeSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]  # (host name, port) -> IP address strings
MAX_URL_CHARS = 2048
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")  # LDH (+ '_', which real hosts use) per label
_DEFAULT_PORTS = {"http": 80, "https": 443}


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver (getaddrinfo, off the event loop): every address of ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class ParsedURL:
    """An http(s) URL whose syntax and host have been checked (nothing resolved yet)."""

    scheme: str
    host: str  # ASCII host name (IDNA-encoded, lower case) or an IP literal without brackets
    port: int
    target: str  # path and query, e.g. "/a/b.png?x=1"

    @property
    def is_ip(self) -> bool:
        return _as_ip(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def at(self, address: str) -> str:
        """This URL with its host replaced by ``address`` (what is actually connected to)."""
        netloc = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{netloc}:{self.port}{self.target}"


def _as_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_host_name(host: str, shown: str) -> str:
    """The ASCII form of a host name, or ``InvalidInputError``: IDNA, 253 characters, 63 per label, LDH."""
    bad = f"image URL {shown}: invalid host name"
    if len(host) > 253:
        raise InvalidInputError(f"{bad} ({len(host)} characters; the limit is 253)")
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii") if not host.isascii() else host.lower()
    except idna.IDNAError as exc:
        raise InvalidInputError(f"{bad} ({exc})") from None
    ascii_host = ascii_host.removesuffix(".")
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInputError(f"{bad} (each dot-separated part must be 1-63 letters, digits or hyphens)")
    last = labels[-1]
    if last.isdigit() or last.startswith("0x"):  # 2130706433, 0x7f.1, 127.1: IPv4 in disguise
        raise InvalidInputError(f"{bad} (looks like a non-standard IP address; write it as a.b.c.d)")
    return ascii_host


def parse_url(url: str) -> ParsedURL:
    """Check an image URL's syntax and host name; raise ``InvalidInputError`` (400) naming what is wrong."""
    shown = repr(url[:100] + ("..." if len(url) > 100 else ""))
    if len(url) > MAX_URL_CHARS:
        raise InvalidInputError(f"image URL {shown}: {len(url)} characters; the limit is {MAX_URL_CHARS}")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise InvalidInputError(f"image URL {shown}: contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Port out of range", "Invalid IPv6 URL", "Port could not be cast ..."
        raise InvalidInputError(f"image URL {shown}: malformed ({exc})") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidInputError(f"image URL {shown}: only absolute http:// and https:// URLs are accepted")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(f"image URL {shown}: credentials in URLs are not accepted")
    if port == 0:
        raise InvalidInputError(f"image URL {shown}: port 0 is not a valid port")
    host = parts.hostname
    address = _as_ip(host) if "%" not in host else None  # no IPv6 zone ids: they name local interfaces
    if address is None and ("[" in parts.netloc or ":" in host or "%" in host):
        raise InvalidInputError(f"image URL {shown}: malformed IP address {host!r}")
    host = str(address) if address is not None else check_host_name(host, shown)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ParsedURL(parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], target)


async def resolve_checked(parsed: ParsedURL, url: str, settings: ServeSettings, resolve: Resolver) -> str:
    """Resolve once and return the address to connect to; refuse non-public ones unless allowed (SSRF)."""
    if parsed.is_ip:
        addresses = [parsed.host]
    else:
        try:
            async with asyncio.timeout(settings.url_timeout_s):
                addresses = await resolve(parsed.host, parsed.port)
        except (OSError, TimeoutError) as exc:
            raise ImageLoadError(f"image URL {url!r}: cannot resolve host {parsed.host!r}") from exc
        if not addresses:
            raise ImageLoadError(f"image URL {url!r}: host {parsed.host!r} has no address")
    if not settings.allow_private_urls:
        for text in addresses:
            address = _as_ip(text.split("%")[0])
            if address is None or not address.is_global or address.is_multicast:
                raise InvalidInputError(
                    f"image URL {url!r}: host resolves to non-public address {text}; "
                    "this server only fetches public URLs (setting allow_private_urls)"
                )
    return addresses[0]


def make_client(settings: ServeSettings) -> httpx.AsyncClient:
    """The client for image URLs: no proxies from the environment, no redirects followed on its own, and no
    kept-alive connections (a pooled TLS connection would otherwise be reused for another name at the same IP)."""
    return httpx.AsyncClient(
        timeout=settings.url_timeout_s,
        headers={"User-Agent": "vocabfree-serve"},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=0),
        trust_env=False,
        follow_redirects=False,
    )


async def fetch_url(
    client: httpx.AsyncClient, url: str, settings: ServeSettings, *, resolve: Resolver = system_resolve
) -> ImageBytes:
    """Download an image with a timeout and a size cap, following (and re-checking) a few redirects."""
    if not settings.allow_urls:
        raise InvalidInputError("image URLs are disabled on this server; upload the image or send base64")
    current = url
    for _ in range(settings.url_max_redirects + 1):
        parsed = parse_url(current)
        address = await resolve_checked(parsed, current, settings, resolve)
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" and not parsed.is_ip else {}
        try:
            async with asyncio.timeout(settings.url_timeout_s):
                request = client.build_request(
                    "GET", parsed.at(address), headers={"Host": parsed.host_header}, extensions=extensions
                )
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    return await _read_body(response, url, settings)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise ImageLoadError(f"image URL {url!r}: no complete answer within {settings.url_timeout_s:g} s") from exc
        except httpx.InvalidURL as exc:
            raise InvalidInputError(f"image URL {url!r}: malformed ({exc})") from exc
        except httpx.HTTPError as exc:
            raise ImageLoadError(f"image URL {url!r}: download failed ({type(exc).__name__}: {exc})") from exc
    raise ImageLoadError(f"image URL {url!r}: more than {settings.url_max_redirects} redirects")


async def _read_body(response: httpx.Response, url: str, settings: ServeSettings) -> ImageBytes:
    if response.status_code != 200:
        raise ImageLoadError(f"image URL {url!r}: the server answered HTTP {response.status_code}")
    declared = response.headers.get("content-length")
    limit = settings.max_upload_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"image URL {url!r}: {int(declared):,} bytes exceeds the upload limit of {limit:,} bytes"
        )
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"image URL {url!r}: more than {limit:,} bytes (the upload limit)")
        chunks.append(chunk)
    return check_image_size(b"".join(chunks), f"image URL {url!r}", settings)
