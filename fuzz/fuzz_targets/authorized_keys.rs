//! authorized_keys editing: any bytes as a file, a key line cut from the
//! input. Adding a key keeps every byte that was there and is idempotent;
//! removing it drops only lines holding that key; nothing panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::keys::authorized::{contains, key_blob, with_key, without_keys};

fuzz_target!(|data: &[u8]| {
    // The first line is the key to add, the rest the file.
    let (key, content) = match data.iter().position(|b| *b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    for line in content.split_inclusive(|b| *b == b'\n') {
        if let Some(blob) = key_blob(line) {
            assert!(!blob.is_empty() && line.windows(blob.len()).any(|w| w == blob));
            assert!(!blob
                .iter()
                .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')));
        }
    }
    let Ok(key) = std::str::from_utf8(key) else {
        return;
    };
    // rccr only ever adds key lines.
    let Some(blob) = key_blob(key.as_bytes()) else {
        return;
    };
    let added = with_key(content, key);
    assert_eq!(with_key(&added, key), added, "adding is idempotent");
    if !contains(content, blob) {
        assert!(
            added.starts_with(content),
            "every byte that was there stays"
        );
    }
    assert!(contains(&added, blob));
    let removed = without_keys(&added, &[blob]);
    assert!(!contains(&removed, blob));
    // Only lines with that key go: every remaining line was in the file.
    for line in removed.split_inclusive(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        assert!(
            added.split(|b| *b == b'\n').any(|l| l == line),
            "a line that was not there: {line:?}"
        );
    }
    assert_eq!(without_keys(&removed, &[blob]), removed);
});
