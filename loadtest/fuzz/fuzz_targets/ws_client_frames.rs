#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    certstream::fuzzing::ws_client_frames(data);
});
