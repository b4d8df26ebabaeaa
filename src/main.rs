//! The `certstream` server binary; everything lives in the library ([`certstream::cli`]).

fn main() {
    certstream::cli::main();
}
