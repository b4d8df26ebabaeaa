#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    certstream::fuzzing::http_chunked(data);
});
