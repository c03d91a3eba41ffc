"""Outbound requests: only to public addresses unless allowed, to the checked
address, no redirects, bounded, retried, signed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from graphapi.settings import SettingsError, load_settings
from graphapi.webhooks import MAX_RESPONSE_BYTES, WebhookSender
from tests.receiver import Receiver

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def refused_targets(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://localhost:{port}/hook",
        f"http://[::1]:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://0.0.0.0:{port}/hook",
        f"http://2130706433:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[fc00::1]/hook",
        "file:///etc/passwd",
    ]


async def test_private_targets_are_refused_and_never_reached():
    async with Receiver() as receiver:
        sender = WebhookSender(allow_private=False, timeout=2)
        try:
            for url in refused_targets(receiver.port):
                delivery = await sender.send(url, message_id="msg_1", payload={"x": 1})
                assert (delivery.ok, delivery.attempts) == (False, 0), url
                assert delivery.error.startswith("refused: "), (url, delivery.error)
        finally:
            await sender.close()
        assert receiver.requests == []

        # The same loopback receiver is reachable once private targets are allowed.
        allowed = WebhookSender(allow_private=True, timeout=2)
        try:
            assert (await allowed.send(f"http://localhost:{receiver.port}/hook", message_id="m")).ok
        finally:
            await allowed.close()
        assert len(receiver.requests) == 1


async def test_the_checked_address_is_connected_with_the_host_kept():
    sender = WebhookSender(allow_private=True)
    try:
        target, host, extensions = await sender.resolve("https://localhost:8443/a?b=1")
        assert target in ("https://127.0.0.1:8443/a?b=1", "https://[::1]:8443/a?b=1")
        assert host == {"host": "localhost:8443"}
        assert extensions == {"sni_hostname": "localhost"}
    finally:
        await sender.close()


async def test_a_redirect_is_not_followed():
    async with Receiver() as target, Receiver() as receiver:
        receiver.replies = [(302, {"location": f"{target.url}/elsewhere"}, b"")]
        sender = WebhookSender(allow_private=True)
        try:
            delivery = await sender.send(f"{receiver.url}/hook", message_id="m", payload={})
        finally:
            await sender.close()
    assert (delivery.ok, delivery.status, delivery.attempts) == (False, 302, 1)
    assert len(receiver.requests) == 1 and target.requests == []


async def test_a_signed_delivery_verifies():
    async with Receiver() as receiver:
        sender = WebhookSender(allow_private=True, secret=SECRET)
        try:
            delivery = await sender.send(
                f"{receiver.url}/hook", message_id="msg_42", payload={"amount": "7.50"}
            )
        finally:
            await sender.close()
    assert delivery.ok
    [request] = receiver.requests
    assert request.method == "POST" and json.loads(request.body) == {"amount": "7.50"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    # Verified as the Standard Webhooks spec says, independently of graphapi's code.
    msg_id, timestamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    assert msg_id == "msg_42" and abs(int(timestamp) - time.time()) < 60
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()
    versions = dict(sig.split(",", 1) for sig in request.headers["webhook-signature"].split(" "))
    assert hmac.compare_digest(base64.b64decode(versions["v1"]), expected)
    tampered = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body + b" ", hashlib.sha256).digest()
    assert not hmac.compare_digest(base64.b64decode(versions["v1"]), tampered)


async def test_failures_are_retried_with_the_same_id_and_client_errors_are_not():
    async with Receiver() as receiver:
        receiver.replies = [(503, {}, b""), (200, {}, b"ok")]
        sender = WebhookSender(allow_private=True, secret=SECRET, max_attempts=3)
        try:
            delivery = await sender.send(f"{receiver.url}/hook", message_id="msg_7", method="GET")
            assert (delivery.ok, delivery.attempts) == (True, 2)
            assert [r.headers["webhook-id"] for r in receiver.requests] == ["msg_7", "msg_7"]
            assert receiver.requests[0].method == "GET" and receiver.requests[0].body == b""

            receiver.requests.clear()
            receiver.replies = [(404, {}, b"")]
            delivery = await sender.send(f"{receiver.url}/hook", message_id="msg_8")
            assert (delivery.ok, delivery.attempts, delivery.error) == (False, 1, "HTTP 404")
        finally:
            await sender.close()


async def test_a_huge_or_slow_answer_is_cut_short():
    async with Receiver() as receiver:
        receiver.replies = [(200, {}, b"x" * (MAX_RESPONSE_BYTES * 20))]
        sender = WebhookSender(allow_private=True, timeout=2, max_attempts=1)
        try:
            assert (await sender.send(receiver.url, message_id="m")).ok
        finally:
            await sender.close()

    done = asyncio.Event()

    async def silent(reader, writer):
        await done.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = WebhookSender(allow_private=True, timeout=0.3, max_attempts=2)
    try:
        started = time.monotonic()
        delivery = await sender.send(f"http://127.0.0.1:{port}/", message_id="m")
        assert (delivery.ok, delivery.attempts, delivery.error) == (False, 2, "timed out after 0.3 s")
        assert time.monotonic() - started < 2
    finally:
        await sender.close()
        done.set()
        server.close()
        await server.wait_closed()


def test_a_malformed_secret_names_the_variable(monkeypatch):
    monkeypatch.setenv("GRAPHAPI_WEBHOOK_SECRET", "not-a-secret")
    with pytest.raises(SettingsError, match="GRAPHAPI_WEBHOOK_SECRET"):
        load_settings(_env_file=None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the name `localhost` (no IP address in it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_https_to_the_checked_address_keeps_sni_and_certificate_checks(certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    names = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)
    received = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        received.append(head.decode())
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "localhost", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    sender = WebhookSender(allow_private=True, verify=ssl.create_default_context(cafile=str(cert)))
    try:
        delivery = await sender.send(f"https://localhost:{port}/hook", message_id="m", payload={})
        assert (delivery.ok, delivery.status) == (True, 204), delivery.error
        assert names == ["localhost"]
        assert f"host: localhost:{port}\r\n" in received[0].lower()
        # The certificate is still checked: it does not name 127.0.0.1.
        by_address = await sender.send(f"https://127.0.0.1:{port}/hook", message_id="m")
        assert not by_address.ok and "CERTIFICATE_VERIFY_FAILED" in by_address.error
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
