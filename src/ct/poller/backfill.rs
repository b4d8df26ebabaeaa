//! Where a log without saved state starts streaming (`--backfill`). It lives with the pollers,
//! which are its only users; the configuration names it as the type of one setting.

use std::{fmt, str::FromStr};

/// Where each newly seen log starts streaming when there is no saved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// Start this many entries before the head (0 = at the head).
    Entries(u64),
    /// Start at index 0.
    All,
}

impl Backfill {
    /// The first index to stream for a log whose tree currently holds `tree_size` entries.
    pub fn start_index(self, tree_size: u64) -> u64 {
        match self {
            Backfill::All => 0,
            Backfill::Entries(n) => tree_size.saturating_sub(n),
        }
    }
}

impl FromStr for Backfill {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Backfill::All);
        }
        s.parse::<u64>()
            .map(Backfill::Entries)
            .map_err(|_| format!("backfill must be a number of entries or `all`, got `{s}`"))
    }
}

impl fmt::Display for Backfill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backfill::All => f.write_str("all"),
            Backfill::Entries(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_parses_numbers_and_all() {
        assert_eq!("0".parse::<Backfill>(), Ok(Backfill::Entries(0)));
        assert_eq!("ALL".parse::<Backfill>(), Ok(Backfill::All));
        assert!("-3".parse::<Backfill>().is_err());
        assert!("lots".parse::<Backfill>().is_err());
        assert_eq!(Backfill::Entries(10).start_index(4), 0);
        assert_eq!(Backfill::Entries(10).start_index(40), 30);
        assert_eq!(Backfill::All.start_index(40), 0);
    }

    #[test]
    fn display_parses_back() {
        for b in [
            Backfill::All,
            Backfill::Entries(0),
            Backfill::Entries(12345),
        ] {
            assert_eq!(b.to_string().parse::<Backfill>(), Ok(b));
        }
    }
}
