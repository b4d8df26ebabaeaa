//! The certstream server, built inside the loadtest crate so that its end-to-end tests can
//! launch it (`CARGO_BIN_EXE_certstream-server`): the same code as the `certstream` binary.

fn main() {
    certstream::cli::main();
}
