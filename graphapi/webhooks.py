"""Outbound HTTP for rules (webhooks, traffic-source postbacks), made safe to
point at URLs that users type.

- http(s) only; the host is resolved once and every address it resolves to must
  be public (not loopback, private, link-local, unique-local, multicast,
  reserved, unspecified, nor such an address mapped into IPv6) unless
  `GRAPHAPI_WEBHOOK_ALLOW_PRIVATE` is set;
- the request connects to the address that was checked (no second lookup a DNS
  rebinding could change), with the URL's host in `Host` and in TLS SNI, so
  virtual hosting and certificate checks still work;
- redirects are not followed; connect and total timeouts; at most
  `MAX_RESPONSE_BYTES` of the answer are read;
- connection errors, timeouts, 429 and 5xx are retried with exponential backoff
  and full jitter;
- signed as Standard Webhooks (https://www.standardwebhooks.com/): `webhook-id`,
  `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
  "id.timestamp.body">` with `GRAPHAPI_WEBHOOK_SECRET`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

CONNECT_TIMEOUT = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
BACKOFF_SECONDS = 0.5
USER_AGENT = "graphapi-webhooks"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(Exception):
    """The URL may not be called: not http(s), or not a public address."""


@dataclass(frozen=True)
class Delivery:
    attempts: int
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet, looking inside IPv6 forms
    that carry an IPv4 address (mapped, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not address.is_multicast


def decode_secret(secret: str) -> bytes:
    """A Standard Webhooks secret, `whsec_<base64>`, to its key bytes."""
    if not secret.startswith("whsec_"):
        raise ValueError("must look like whsec_<base64 of 24 to 64 random bytes>")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    if not 24 <= len(key) <= 64:
        raise ValueError("must hold 24 to 64 bytes (base64 after whsec_)")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


class WebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        secret: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        verify: ssl.SSLContext | bool = True,  # the CA certificates (tests pass their own)
    ) -> None:
        self._allow_private = allow_private
        self._key = decode_secret(secret) if secret else None
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect where we checked
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def resolve(self, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The URL to connect to (host replaced by its checked address), the Host
        header and the request extensions (TLS SNI); raises WebhookRefused."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise WebhookRefused(f"malformed URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise WebhookRefused(f"only http and https URLs are called, not {parts.scheme or 'this'!r}")
        host = parts.hostname
        if not host or parts.username is not None:
            raise WebhookRefused("the URL needs a host and no user:password")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(self._timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:  # before OSError, of which it is a kind
            raise WebhookRefused(f"cannot resolve {host!r}: timed out") from None
        except (OSError, UnicodeError) as exc:
            raise WebhookRefused(f"cannot resolve {host!r}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        if not addresses:
            raise WebhookRefused(f"{host!r} resolves to no address")
        if not self._allow_private:
            for address in addresses:
                if not is_public(address):
                    raise WebhookRefused(
                        f"{host!r} resolves to {address}, which is not a public address "
                        "(set GRAPHAPI_WEBHOOK_ALLOW_PRIVATE=1 to allow private targets)"
                    )
        address = addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        target = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return target, {"host": host_header}, extensions

    async def send(
        self,
        url: str,
        *,
        message_id: str,
        payload: Any = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """Deliver one request, retrying; never raises for network trouble.

        `message_id` stays the same across retries and re-runs of the same
        rule event, so a receiver can drop duplicates (delivery is at least once).
        """
        try:
            target, host, extensions = await self.resolve(url)
        except WebhookRefused as exc:
            return Delivery(attempts=0, error=f"refused: {exc}")
        body = b"" if method == "GET" else json.dumps(payload, default=str).encode()
        base_headers = {
            **(headers or {}),
            **host,
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
        }
        if method == "POST":
            base_headers["content-type"] = "application/json"
        delivery = Delivery(attempts=0)
        for attempt in range(1, self._max_attempts + 1):
            timestamp = int(time.time())
            signed = {**base_headers, "webhook-timestamp": str(timestamp)}
            if self._key is not None:
                signed["webhook-signature"] = sign(self._key, message_id, timestamp, body)
            delivery = await self._attempt(method, target, signed, body, extensions, attempt)
            if delivery.ok or not _retryable(delivery):
                return delivery
            if attempt < self._max_attempts:
                await asyncio.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))
        return delivery

    async def _attempt(
        self, method: str, target: str, headers: dict[str, str], body: bytes,
        extensions: dict[str, Any], attempt: int,
    ) -> Delivery:  # fmt: skip
        request = self._client.build_request(
            method, target, headers=headers, content=body or None, extensions=extensions
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.send(request, stream=True)
                try:
                    received = 0
                    async for chunk in response.aiter_raw():
                        received += len(chunk)
                        if received >= MAX_RESPONSE_BYTES:
                            break
                finally:
                    await response.aclose()
        except TimeoutError:
            return Delivery(attempts=attempt, error=f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Delivery(attempts=attempt, error=f"{type(exc).__name__}: {exc}")
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return Delivery(attempts=attempt, status=response.status_code, error=error)


def _retryable(delivery: Delivery) -> bool:
    return delivery.status is None or delivery.status == 429 or delivery.status >= 500
