//! The Certificate Transparency side: which logs exist, how to talk to them, how to decode
//! what they return.

pub mod entry;
pub mod http;
pub mod pacing;
