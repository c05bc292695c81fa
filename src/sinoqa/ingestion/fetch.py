"""Fetching pages and feeds over http(s), safely: the network side of `sinoqa add`.

Every URL, and every redirect it leads to, is checked before a connection is made: http or
https only, no credentials in it, and a host that resolves only to public addresses
(loopback, private, link-local, multicast and reserved ranges are refused unless
``fetch.allow_private`` is set), so a URL typed into the UI cannot reach internal services.
A response must arrive within ``fetch.timeout_s`` in all, be no larger than
``fetch.max_bytes`` and be of an expected content type.

Known limit: the address is checked when the URL is resolved, and the HTTP client resolves
the name again when it connects; a DNS server that answers differently the second time
("rebinding") is not caught.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from sinoqa.errors import FetchError
from sinoqa.settings import FetchSettings

if TYPE_CHECKING:
    import httpx

#: Content types of an article page, and of a feed.
PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    "application/rdf+xml",
)


@dataclass(frozen=True)
class Fetched:
    requested: str
    url: str  # after redirects
    content: bytes
    content_type: str


def check_url(url: str, allow_private: bool) -> None:
    """Refuse what sinoqa must not fetch: other schemes, credentials, internal addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed now: a port out of range is a malformed URL too
    except ValueError as exc:  # an unclosed IPv6 bracket, a port that is not a number, ...
        raise FetchError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        if not parts.scheme:
            raise FetchError(f"not a URL: write it in full, e.g. https://{url.lstrip('/')}")
        raise FetchError(f"only http and https URLs can be added, not {parts.scheme!r} ones")
    if parts.username or parts.password:
        raise FetchError("URLs with a user name or password are refused")
    if not parts.hostname:
        raise FetchError("the URL has no host")
    if allow_private:
        return
    try:
        port = port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchError(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            raise FetchError(
                f"{parts.hostname} resolves to {address}, a loopback, private or link-local "
                "address: refused (set SINOQA_FETCH__ALLOW_PRIVATE=true to allow it)"
            )


def fetch(url: str, settings: FetchSettings, accept: tuple[str, ...] = PAGE_TYPES) -> Fetched:
    """GET ``url`` with the checks above, following redirects by hand (each one checked)."""
    import httpx

    deadline = time.monotonic() + settings.timeout_s
    seen: set[str] = set()
    current = url.strip()
    headers = {"User-Agent": settings.user_agent}
    with httpx.Client(
        follow_redirects=False, timeout=settings.timeout_s, headers=headers
    ) as client:
        for _ in range(settings.max_redirects + 1):
            check_url(current, settings.allow_private)
            seen.add(current)
            try:
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        current = urljoin(current, location)
                        if current in seen:
                            raise FetchError("redirect loop")
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}")
                    content_type = response.headers.get("content-type", "").split(";")[0]
                    content_type = content_type.strip().lower()
                    if content_type not in accept:
                        raise FetchError(f"not {_kind(accept)} (content type {content_type!r})")
                    content = _read(response, settings.max_bytes, deadline)
                    return Fetched(url, str(response.url), content, content_type)
            except httpx.TimeoutException:
                raise FetchError(f"no answer within {settings.timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"cannot fetch: {exc}") from None
    raise FetchError(f"more than {settings.max_redirects} redirects")


def _kind(accept: tuple[str, ...]) -> str:
    return "an HTML page" if accept == PAGE_TYPES else "an RSS or Atom feed"


def _read(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """The body, refused past ``max_bytes`` or the deadline (a trickling server included)."""
    import httpx

    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"larger than {max_bytes:,} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"larger than {max_bytes:,} bytes")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("deadline")
        chunks.append(chunk)
    body = b"".join(chunks)
    if b"\x00" in body[:8192]:
        raise FetchError("binary content, not a page")
    return body
