fn main() {
    eprintln!("certstream: not wired yet");
}
