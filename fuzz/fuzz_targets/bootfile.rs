//! rccr.txt on the boot partition: any bytes. Nothing panics; what parses
//! is a hostname that follows the hostname rule and keys that pass the key
//! check; every error names a line of the file. An accepted key is
//! `TYPE BASE64[ COMMENT]` split on single spaces, and the blob that
//! authorized_keys editing finds in it is the base64 that was checked.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::identity::check_hostname;
use rccr::init::bootfile::{check_key, parse};
use rccr::keys::authorized::key_blob;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse(data) else {
        return;
    };
    if let Some(name) = &parsed.hostname {
        assert_eq!(check_hostname(name), Ok(()), "{name:?}");
    }
    for key in &parsed.keys {
        assert_eq!(check_key(key).as_ref(), Ok(key), "{key:?}");
        assert!(!key.contains('\n'));
        let blob = key.split(' ').nth(1).expect("TYPE BASE64");
        assert!(rccr::base64::decode(blob).is_some(), "{key:?}");
        assert_eq!(key_blob(key.as_bytes()), Some(blob.as_bytes()), "{key:?}");
    }
    let lines = data.split(|b| *b == b'\n').count();
    for (line, message) in &parsed.errors {
        assert!(*line >= 1 && *line <= lines, "{line} of {lines}");
        assert!(!message.contains('\n'));
    }
});
