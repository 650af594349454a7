#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orbit_fuzz::webauthn::auth_data(data));
