"""Webhooks: each recorded change POSTed as JSON to the address a watch names.

The address obeys the rules pages are fetched by (http or https only; no loopback or private
address unless ``fetch.allow_private``), checked when the watch is added and again before each
delivery. With ``watch.webhook_secret`` set, ``X-Sinoqa-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the body, so a receiver can tell sinoqa's posts from others. A failed delivery
is retried with backoff and then logged: the change stays recorded either way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable

from sinoqa.errors import FetchError
from sinoqa.ingestion.fetch import check_url
from sinoqa.schema import WatchChange
from sinoqa.settings import Settings

log = logging.getLogger("sinoqa.watch")


def check_webhook(url: str, settings: Settings) -> str:
    """``url`` stripped, or :class:`FetchError` saying why it cannot be posted to."""
    url = url.strip()
    check_url(url, settings.fetch.allow_private)
    return url


def payload(name: str, question: str, change: WatchChange) -> bytes:
    body = {"event": "watch.change", "watch": name, "question": question}
    body["change"] = change.model_dump(mode="json", exclude={"read"})  # type: ignore[assignment]
    return json.dumps(body, ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    url: str,
    body: bytes,
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``body`` to ``url``: retried on a network error, a 429 or a 5xx, waiting 1, 2,
    4, ... seconds; False (logged) when no try succeeded."""
    import httpx

    options = settings.watch
    headers = {
        "Content-Type": "application/json",
        "User-Agent": settings.fetch.user_agent,
        "X-Sinoqa-Event": "watch.change",
        "X-Sinoqa-Delivery": str(uuid.uuid4()),
    }
    if options.webhook_secret is not None:
        headers["X-Sinoqa-Signature"] = signature(options.webhook_secret.get_secret_value(), body)
    problem = ""
    for attempt in range(options.webhook_attempts):
        if attempt:
            sleep(2.0 ** (attempt - 1))
        try:
            check_url(url, settings.fetch.allow_private)
            response = httpx.post(
                url, content=body, headers=headers, timeout=options.webhook_timeout_s
            )
        except FetchError as exc:
            problem = str(exc)
            break  # the address itself is refused: trying again changes nothing
        except httpx.HTTPError as exc:
            problem = f"cannot post: {exc}"
            continue
        if response.status_code < 300:
            return True
        problem = f"HTTP {response.status_code}"
        if response.status_code != 429 and response.status_code < 500:
            break  # the receiver refused it: another try would be refused too
    log.warning("webhook %s not delivered: %s", url, problem)
    return False
