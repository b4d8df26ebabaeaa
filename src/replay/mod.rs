//! Resume and replay: client cursors, and the bounded store that serves what a client missed.
//!
//! | file | role |
//! |---|---|
//! | `token.rs` | [`token::Cursor`]: what a client was sent, per log; its URL-safe token format |
//! | `store/` | [`store`]: every streamed entry, on disk, per log |
//! | `recent.rs` | [`recent::RecentFrames`]: the store's memory tier, the last minutes each core published |
pub mod recent;
pub mod store;
pub mod token;
