//! The Certificate Transparency side: which logs exist, how to talk to them, how to decode
//! what they return.

pub mod entry;
pub mod leaf;
pub mod log_list;
pub mod rfc6962;
pub mod sig;
pub mod static_ct;
