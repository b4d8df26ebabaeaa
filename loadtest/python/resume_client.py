#!/usr/bin/env python3
"""Consume a certstream server without gaps: persist the cursor, resume with it.

    python3 resume_client.py ws://127.0.0.1:8080/ cursor.txt out.jsonl

The server sends `{"message_type":"cursor","data":{"cursor":"<token>"}}` after batches of
certificates (at most every 200 ms while data flows). A cursor covers everything sent before
it, so it is a commit point: this client holds the certificates it receives until the next
cursor, then writes them and saves the cursor, in that order. Killed at any moment (even
kill -9), it loses nothing and repeats nothing on the next start: certificates received after
the last saved cursor were never written, and the server sends them again after it.

The first start connects with `?resume` (live from now on, with cursors); later starts with
`?since=<saved cursor>`. A `gap` message (what you asked for is older than the server's replay
store holds) is written as it is, so the consumer knows which indices it will never get.

Needs `websockets` (pip install websockets).
"""
import asyncio
import json
import os
import sys

import websockets


def load_cursor(path):
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def save_cursor(path, cursor):
    """Atomically: a crash leaves the old cursor or the new one, never half of one."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(cursor)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def stream_url(base, cursor):
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}since={cursor}" if cursor else f"{base}{sep}resume"


async def read_until_closed(ws, cursor_path, out_path):
    held = []  # received since the last cursor: not yet ours
    async for raw in ws:
        msg = json.loads(raw)
        kind = msg.get("message_type")
        if kind == "cursor":
            with open(out_path, "a", encoding="utf-8") as out:
                for line in held:
                    out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
            save_cursor(cursor_path, msg["data"]["cursor"])
            held.clear()
        elif kind in ("certificate_update", "dns_entries", "gap"):
            held.append(raw if isinstance(raw, str) else raw.decode())


async def consume(base, cursor_path, out_path):
    backoff = 0.5
    while True:
        url = stream_url(base, load_cursor(cursor_path))
        try:
            async with websockets.connect(url, max_size=None) as ws:
                backoff = 0.5
                await read_until_closed(ws, cursor_path, out_path)
        except (OSError, websockets.exceptions.WebSocketException) as e:
            # Server restarting, network blip, or 503 (too many replays): retry from the
            # last saved cursor.
            print(f"reconnecting in {backoff:.1f}s: {e}", file=sys.stderr)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 10.0)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(consume(*sys.argv[1:]))


if __name__ == "__main__":
    main()
