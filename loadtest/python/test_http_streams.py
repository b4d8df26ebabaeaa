"""SSE and NDJSON read with `httpx` streaming: every message equals what a `websockets` client
of the same stream received (the same JSON text)."""
import asyncio
import json
import ssl

import httpx
import websockets


async def websocket_messages(ws, wanted, timeout=30):
    """Reads the WebSocket until every message of `wanted` arrived; returns what it read."""
    seen = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(m in seen for m in wanted):
        seen.add(await asyncio.wait_for(ws.recv(), max(0.1, deadline - loop.time())))
    return seen


def certificates(messages):
    return [m for m in messages if json.loads(m)["message_type"] != "heartbeat"]


def test_ndjson_lines_equal_the_websocket_messages(server_addr):
    async def main():
        async with websockets.connect(f"ws://{server_addr}/domains-only", max_size=None) as ws:
            lines = []
            async with httpx.AsyncClient(timeout=60) as client:
                headers = {"Accept": "application/x-ndjson"}
                url = f"http://{server_addr}/domains-only"
                async with client.stream("GET", url, headers=headers) as r:
                    assert r.status_code == 200
                    assert r.headers["content-type"] == "application/x-ndjson"
                    async for line in r.aiter_lines():
                        lines.append(line)
                        if len(certificates(lines)) >= 10:
                            break
            await websocket_messages(ws, certificates(lines))

    asyncio.run(main())


def test_sse_events_equal_the_websocket_messages(server_addr):
    async def main():
        async with websockets.connect(f"ws://{server_addr}/full-stream", max_size=None) as ws:
            events = []
            async with httpx.AsyncClient(timeout=60) as client:
                url = f"http://{server_addr}/sse?stream=full"
                async with client.stream("GET", url) as r:
                    assert r.status_code == 200
                    assert r.headers["content-type"].startswith("text/event-stream")
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            events.append(line[len("data: "):])
                        else:
                            assert line == "" or line.startswith(":"), line
                        if len(events) >= 10:
                            break
            assert all(json.loads(e)["message_type"] == "certificate_update" for e in events)
            await websocket_messages(ws, events)

    asyncio.run(main())


def test_ndjson_and_sse_over_https_verify_against_the_test_ca(tls_server):
    addr, ca = tls_server

    async def main():
        async with httpx.AsyncClient(timeout=60, verify=ssl.create_default_context(cafile=ca)) as client:
            for path, prefix in [("/?format=ndjson", ""), ("/sse?stream=domains", "data: ")]:
                got = []
                async with client.stream("GET", f"https://{addr}{path}") as r:
                    assert r.status_code == 200
                    async for line in r.aiter_lines():
                        if line.startswith(prefix) and line[len(prefix):].startswith("{"):
                            message = json.loads(line[len(prefix):])
                            if message["message_type"] != "heartbeat":
                                got.append(message)
                        if len(got) >= 5:
                            break
                kind = "dns_entries" if "domains" in path else "certificate_update"
                assert all(m["message_type"] == kind for m in got), got

    asyncio.run(main())
