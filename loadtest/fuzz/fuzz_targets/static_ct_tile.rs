#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    certstream::fuzzing::static_ct_tile(data);
});
