//! Configuration: command line, environment (`CERTSTREAM_*`) and defaults from [`crate::limits`].
