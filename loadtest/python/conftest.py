"""Shared fixtures: the server under test is given by the Rust driver (loadtest/tests/python_clients.rs)."""
import os

import pytest


@pytest.fixture(scope="session")
def server_addr():
    addr = os.environ.get("CERTSTREAM_ADDR")
    if not addr:
        pytest.fail("CERTSTREAM_ADDR is not set: run these tests through `cargo test -p loadtest --test python_clients`")
    return addr
