"""WebSocket protocol edge cases, driven by the `websockets` package and by raw sockets."""
import asyncio
import os
import socket
import struct
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed


def run(coro):
    return asyncio.run(coro)


async def ping_while_draining(ws, timeout=10):
    """Pings and waits for the pong while reading the stream: the library stops reading the
    socket once its message queue is full, and the pong queues behind the certificates."""

    async def drain():
        while True:
            await ws.recv()

    reader = asyncio.ensure_future(drain())
    try:
        pong = await ws.ping()
        return await asyncio.wait_for(pong, timeout)
    finally:
        reader.cancel()


def test_ping_is_answered_with_pong(server_addr):
    async def main():
        async with websockets.connect(f"ws://{server_addr}/") as ws:
            latency = await ping_while_draining(ws)
            assert latency >= 0

    run(main())


def test_close_handshake_echoes_the_code(server_addr):
    async def main():
        ws = await websockets.connect(f"ws://{server_addr}/")
        await ws.close(code=1000, reason="bye")
        assert ws.close_code == 1000

    run(main())


def test_text_and_fragmented_messages_are_ignored_and_stream_continues(server_addr):
    async def main():
        async with websockets.connect(f"ws://{server_addr}/", max_size=None) as ws:
            await ws.send("hello server")
            await ws.send(["frag", "mented ", "message"])  # sent as three fragments
            await ws.send(b"\x00\x01binary")
            msg = await asyncio.wait_for(ws.recv(), 60)
            assert msg.startswith("{")
            await ping_while_draining(ws)

    run(main())


def test_oversized_message_closes_with_1009(server_addr):
    async def main():
        async with websockets.connect(f"ws://{server_addr}/", max_size=None) as ws:
            await ws.send("x" * (70 * 1024))
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(10000):
                    await asyncio.wait_for(ws.recv(), 30)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main())


# ---- raw sockets: frames the websockets library refuses to send ---------------------------------


def raw_upgrade(server_addr, path="/"):
    host, port = server_addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {server_addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "connection closed during handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head, "RFC 6455 example accept key"
    return s


def client_frame(opcode, payload, mask=True, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_close_code(s, timeout=30):
    """Reads server frames until a close frame; returns its status code."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack("!H", buf[2:4])[0]
                off = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = struct.unpack("!Q", buf[2:10])[0]
                off = 10
            if len(buf) < off + n:
                break
            payload = buf[off : off + n]
            buf = buf[off + n :]
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    raise AssertionError("no close frame")


def test_unmasked_client_frame_closes_with_1002(server_addr):
    s = raw_upgrade(server_addr)
    s.sendall(client_frame(0x1, b"not masked", mask=False))
    assert read_close_code(s) == 1002


def test_invalid_utf8_text_closes_with_1007(server_addr):
    s = raw_upgrade(server_addr)
    s.sendall(client_frame(0x1, b"\xff\xfe bad utf-8"))
    assert read_close_code(s) == 1007


def test_other_websocket_version_gets_426(server_addr):
    host, port = server_addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
        ).encode()
    )
    resp = s.recv(4096)
    assert resp.startswith(b"HTTP/1.1 426")
    assert b"Sec-WebSocket-Version: 13" in resp
