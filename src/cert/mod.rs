//! DER certificates → certstream JSON, serialized once per stream form into complete
//! WebSocket frames.
