"""Clients over TLS: the `certstream` PyPI client on wss://, the `websockets` package on wss://,
and urllib on https://, each verifying the server certificate against the test CA only."""
import asyncio
import json
import ssl
import threading
import urllib.request

import certstream
import pytest


def test_certstream_client_over_wss(tls_server):
    addr, ca = tls_server
    got = []
    done = threading.Event()

    def callback(message, context):
        got.append(message)
        if len(got) >= 5:
            done.set()

    t = threading.Thread(
        target=certstream.listen_for_events,
        kwargs={
            "message_callback": callback,
            "url": f"wss://{addr}/",
            "skip_heartbeats": True,
            "sslopt": {"ca_certs": ca},
        },
        daemon=True,
    )
    t.start()
    assert done.wait(60), f"only {len(got)} messages over wss in 60 s"
    for m in got:
        assert m["message_type"] == "certificate_update"
        assert isinstance(m["data"]["leaf_cert"]["all_domains"], list)
        assert isinstance(m["data"]["cert_index"], int)


def test_websockets_over_wss_and_https_endpoints(tls_server):
    import websockets

    addr, ca = tls_server
    context = ssl.create_default_context(cafile=ca)

    async def first_full_message():
        async with websockets.connect(f"wss://{addr}/full-stream", ssl=context, max_size=None) as ws:
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["message_type"] == "certificate_update":
                    return msg

    full = asyncio.run(first_full_message())
    assert isinstance(full["data"]["leaf_cert"]["as_der"], str)
    with urllib.request.urlopen(f"https://{addr}/health", context=context, timeout=30) as r:
        assert r.status == 200 and r.read() == b"OK"
    with urllib.request.urlopen(f"https://{addr}/latest.json", context=context, timeout=30) as r:
        assert isinstance(json.load(r)["messages"], list)


def test_an_untrusted_certificate_is_rejected(tls_server):
    addr, _ = tls_server
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(f"https://{addr}/health", context=ssl.create_default_context(), timeout=30)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
