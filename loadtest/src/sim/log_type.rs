//! Which protocol a simulated log speaks. Its own module because both the logs and the fault
//! injector select by it, and the logs use the injector: here neither imports the other back.

/// RFC 6962 (get-sth, get-entries) or Static CT API (checkpoint, tiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogType {
    Rfc6962,
    Static,
}

impl LogType {
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Rfc6962 => "rfc6962",
            LogType::Static => "static",
        }
    }
}
