//! known_hosts pinning: any text as the file, a host and a key from the
//! input. A host with no pin is unknown whatever the key; a match is of a
//! pinned type; a pinned host is never unknown (of any type: a switch is a
//! mismatch); nothing panics. rccr's ~/.ssh/config block: every byte of the
//! user's part survives, and rewriting (nodes at any port) is idempotent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::identity::Hostname;
use rccr::keys::addr::NodeAddr;
use rccr::keys::control::known_hosts::{check, follow, pinned_types, Named, Pin, MARK};
use rccr::keys::control::ssh_config;
use rccr::ssh::{line_fingerprint, Fingerprint};
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

    // rccr's lines following nodes: the user's lines survive in order,
    // and a second pass changes nothing.
    let fingerprints: Vec<Fingerprint> = content
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter_map(|b64| line_fingerprint(&format!("ssh-ed25519 {b64}")))
        .filter_map(|(_, fp)| Fingerprint::parse(&fp))
        .collect();
    let mut names: Vec<Hostname> = head
        .split_whitespace()
        .filter_map(|n| Hostname::parse(n).ok())
        .collect();
    if names.is_empty() {
        names.push(Hostname::parse("node").expect("a DNS name"));
    }
    let named: Vec<Named> = fingerprints
        .iter()
        .zip(names.iter().cycle())
        .enumerate()
        .map(|(i, (fp, name))| Named {
            name,
            ip: std::net::IpAddr::from([10, 0, 0, (i % 3) as u8]),
            host_key: fp,
        })
        .collect();
    // On the input's own bytes: a line that is not UTF-8 is kept as it is.
    let raw = data.splitn(2, |b| *b == b'\n').nth(1).unwrap_or_default();
    let followed = follow(raw, &named, 22);
    assert_eq!(follow(&followed, &named, 22), followed);
    // Lines as bytes up to '\n' (follow() may end the last one with one).
    let lines = |bytes: &[u8]| {
        bytes
            .split_inclusive(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec())
            .collect::<Vec<Vec<u8>>>()
    };
    let mut kept = lines(&followed).into_iter();
    for line in lines(raw) {
        let text = String::from_utf8_lossy(&line);
        let ours =
            !text.starts_with(['#', '@', '|']) && text.split_whitespace().nth(3) == Some(MARK);
        if !ours {
            assert!(kept.any(|k| k == line), "{text:?} lost");
        }
    }

    let nodes: Vec<NodeAddr> = data
        .chunks(6)
        .take(40)
        .filter(|c| c.len() == 6)
        .map(|c| NodeAddr {
            ip: std::net::IpAddr::from([c[0], c[1], c[2], c[3]]),
            port: u16::from_be_bytes([c[4], c[5]]),
        })
        .collect();
    // Both rules for adding an address: a key at ~/.ssh's default path
    // (only other ports are added) and one elsewhere (every node is).
    let (key_path, at_default) = match data.len() % 2 {
        0 => (Path::new("/root/.rccr/cluster_key"), false),
        _ => (Path::new("/root/.ssh/id_ed25519"), true),
    };
    // On the input's own bytes: the user's part may be in any encoding.
    let Ok(once) = ssh_config::render(data, key_path, &nodes, at_default) else {
        return;
    };
    assert_eq!(
        ssh_config::render(&once, key_path, &nodes, at_default),
        Ok(once.clone())
    );
    assert_eq!(
        ssh_config::render(&once, key_path, &[], at_default),
        Ok(once)
    );
});
