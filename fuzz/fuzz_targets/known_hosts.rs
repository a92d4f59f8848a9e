//! known_hosts pinning: any text as the file, a host and a key from the
//! input. A host with no pin is unknown whatever the key; a match is of a
//! pinned type; a pinned host is never unknown (of any type: a switch is a
//! mismatch); nothing panics. rccr's ~/.ssh/config block: every byte of the
//! user's part survives, and rewriting is idempotent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::keys::control::known_hosts::{check, pinned_types, Pin};
use rccr::keys::control::ssh_config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, content) = text.split_once('\n').unwrap_or((&text, ""));
    let mut words = head.split_whitespace();
    let host = words.next().unwrap_or("10.0.0.5");
    let key = format!(
        "{} {}",
        words.next().unwrap_or("ssh-ed25519"),
        words.next().unwrap_or("AAAA")
    );
    let odd = |line: &str| line.len() % 3 == 0;
    let types = pinned_types(content, host, &odd);
    match check(content, host, &key, &odd) {
        Pin::Unknown => assert!(types.is_empty(), "{types:?}"),
        Pin::Match => assert!(types.iter().any(|t| key.starts_with(t.as_str()))),
        Pin::Mismatch { line } => {
            assert!(!types.is_empty());
            assert!(line >= 1 && line <= content.lines().count());
        }
    }

    let nodes: Vec<std::net::IpAddr> = data
        .chunks(4)
        .take(40)
        .filter(|c| c.len() == 4)
        .map(|c| std::net::IpAddr::from([c[0], c[1], c[2], c[3]]))
        .collect();
    let key_path = Path::new("/root/.rccr/cluster_key");
    let once = ssh_config::render(&text, key_path, &nodes);
    assert_eq!(ssh_config::render(&once, key_path, &nodes), once);
    assert_eq!(ssh_config::render(&once, key_path, &[]), once);
});
