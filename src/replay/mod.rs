//! Resume and replay (issue #14). [`store`]: every streamed entry, on disk, per log.

pub mod store;
