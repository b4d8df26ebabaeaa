"""The real `certstream` Python client (PyPI, 1.12) against our server fed by the simulator."""
import threading
import time

import certstream


def test_listen_for_events_receives_certificate_updates(server_addr):
    got = []
    done = threading.Event()

    def callback(message, context):
        assert message["message_type"] == "certificate_update"
        got.append(message)
        if len(got) >= 20:
            done.set()

    t = threading.Thread(
        target=certstream.listen_for_events,
        kwargs={"message_callback": callback, "url": f"ws://{server_addr}/", "skip_heartbeats": True},
        daemon=True,
    )
    t.start()
    assert done.wait(60), f"only {len(got)} certificate_update messages in 60 s"
    for m in got:
        data = m["data"]
        # The fields the certstream README's example and common pipelines index blindly.
        assert isinstance(data["leaf_cert"]["all_domains"], list)
        assert "CN" in data["leaf_cert"]["subject"]
        assert data["update_type"] in ("X509LogEntry", "PrecertLogEntry")
        assert isinstance(data["cert_index"], int)
        assert data["source"]["url"].startswith("http")
        assert isinstance(data["source"]["name"], str)
        assert isinstance(data["seen"], float)
        assert "as_der" not in data["leaf_cert"], "the lite stream has no DER"
        assert "chain" not in data


def test_three_streams_carry_their_forms(server_addr):
    import asyncio
    import json

    import websockets

    async def first(path, message_type):
        async with websockets.connect(f"ws://{server_addr}{path}", max_size=None) as ws:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["message_type"] == message_type:
                    return msg
        raise AssertionError(f"no {message_type} on {path}")

    async def main():
        full = await first("/full-stream", "certificate_update")
        assert isinstance(full["data"]["leaf_cert"]["as_der"], str)
        assert isinstance(full["data"]["chain"], list)
        domains = await first("/domains-only", "dns_entries")
        assert isinstance(domains["data"], list)

    asyncio.run(main())


def test_listen_for_events_on_a_filtered_url(server_addr):
    """The unchanged client on a URL with server-side filters gets only matching updates."""
    got = []
    done = threading.Event()

    def callback(message, context):
        got.append(message)
        if len(got) >= 5:
            done.set()

    url = f"ws://{server_addr}/?domain=example.com&keyword=paypal"
    t = threading.Thread(
        target=certstream.listen_for_events,
        kwargs={"message_callback": callback, "url": url, "skip_heartbeats": True},
        daemon=True,
    )
    t.start()
    assert done.wait(60), f"only {len(got)} filtered messages in 60 s"
    for m in got:
        assert m["message_type"] == "certificate_update"
        names = [n.lower() for n in m["data"]["leaf_cert"]["all_domains"]]
        assert any(
            n == "example.com" or n.endswith(".example.com") or "paypal" in n for n in names
        ), names
