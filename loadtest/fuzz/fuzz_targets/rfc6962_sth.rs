#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    certstream::fuzzing::rfc6962_sth(data);
});
