"""Shared fixtures: the server under test is given by the Rust driver (loadtest/tests/python_clients.rs)."""
import os

import pytest


@pytest.fixture(scope="session")
def server_addr():
    addr = os.environ.get("CERTSTREAM_ADDR")
    if not addr:
        pytest.fail("CERTSTREAM_ADDR is not set: run these tests through `cargo test -p loadtest --test python_clients`")
    return addr


@pytest.fixture(scope="session")
def tls_server():
    """(host:port, CA file) of the server started with a test CA's certificate."""
    addr = os.environ.get("CERTSTREAM_TLS_ADDR")
    ca = os.environ.get("CERTSTREAM_TLS_CA")
    if not addr or not ca:
        pytest.fail("CERTSTREAM_TLS_ADDR/CERTSTREAM_TLS_CA are not set: run these tests through `cargo test -p loadtest --test python_clients`")
    return addr, ca
