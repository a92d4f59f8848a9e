//! wpa_supplicant.conf on a Pi's boot partition: any bytes. Nothing
//! panics; what passes holds at least one network; every error is one
//! line that names a line of the file (or the file) and quotes none of its
//! values.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::init::wifi::check;

fuzz_target!(|data: &[u8]| {
    match check(data) {
        Ok(networks) => assert!(networks >= 1),
        Err(message) => {
            assert!(!message.contains('\n'));
            assert!(!message.contains('"'), "{message}");
            assert!(message.len() < 200, "{message}");
            if let Some(rest) = message.strip_prefix("line ") {
                let n: usize = rest.split(':').next().unwrap().parse().unwrap();
                let lines = data.split(|b| *b == b'\n').count();
                assert!(n >= 1 && n <= lines, "{n} of {lines}");
            }
        }
    }
});
