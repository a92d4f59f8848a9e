//! The rotation journal: any text. Nothing panics; what parses renders
//! back to the same record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::keys::control::journal::Record;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = Record::parse(text, Path::new("journal")) {
        let again = Record::parse(&record.render(), Path::new("journal"))
            .unwrap_or_else(|e| panic!("{:?} does not read back: {e}", record.render()));
        assert_eq!(again, record);
    }
});
