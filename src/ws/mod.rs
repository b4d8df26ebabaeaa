//! The client side: listener, HTTP endpoints, WebSocket handshake, sessions and the per-core hub.
