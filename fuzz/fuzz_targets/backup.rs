//! The backup archive reader (`rccr restore` of any file): any bytes as an
//! archive, and, so that the reader gets past the checksum, the same bytes
//! as an archive's entries under a correct `end` line. Nothing panics;
//! what parses holds only known names and permission bits, and renders to
//! an archive that parses back to the same entries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::backup::{parse, render, Entry};
use rccr::keys::authorized::cksum_line;

fn check(entries: &[Entry], input: &[u8]) {
    let body_bytes: usize = entries.iter().map(|e| e.bytes.len()).sum();
    assert!(body_bytes <= input.len());
    assert!(entries.iter().all(|e| e.mode <= 0o777));
    assert_eq!(parse(&render(entries)).as_deref(), Ok(entries));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse(data) {
        check(&entries, data);
    }
    let mut archive = b"rccr-backup 1\n".to_vec();
    archive.extend_from_slice(data);
    let sum = cksum_line(&archive);
    archive.extend_from_slice(format!("end {sum}\n").as_bytes());
    if let Ok(entries) = parse(&archive) {
        check(&entries, &archive);
    }
});
