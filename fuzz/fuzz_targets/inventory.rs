//! The inventory (STATE/nodes) and the Ansible inventory: any text as a
//! file, and records built from the input's fields. Nothing panics; what
//! parses renders back to the same records; whatever a node could say, a
//! record is one line of seven fields and one Ansible host line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::identity::{Arch, Hostname, Mac, Role};
use rccr::ssh::Fingerprint;
use rccr::state::inventory::{parse, render, render_ansible, NodeRecord};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(nodes) = parse(&text, Path::new("nodes")) {
        assert_eq!(parse(&render(&nodes), Path::new("nodes")).unwrap(), nodes);
    }
    // Fields from the input, as a node would send them.
    let records: Vec<NodeRecord> = text
        .split('\u{0}')
        .enumerate()
        .filter_map(|(i, field)| {
            let (name, key) = field.split_once('|').unwrap_or((field, ""));
            Some(NodeRecord {
                ip: std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]),
                mac: (i % 2 == 0).then_some(Mac([2, 0, 0, 0, (i >> 8) as u8, i as u8])),
                hostname: Hostname::parse(name).ok()?,
                role: if i % 3 == 0 {
                    Role::Control
                } else {
                    Role::Target
                },
                arch: Arch::ALL.get(i % 7).copied(),
                host_key: Fingerprint::parse(key),
                moved_from: (i % 5 == 0).then_some(std::net::IpAddr::from([10, 1, 0, i as u8])),
            })
        })
        .collect();
    let rendered = render(&records);
    assert_eq!(rendered.lines().count(), records.len() + 1);
    assert!(rendered.lines().skip(1).all(|l| l.split('\t').count() == 7));
    assert_eq!(parse(&rendered, Path::new("nodes")).unwrap(), records);
    // Every fourth node held back: a comment line in place of its host line.
    let held: Vec<std::net::IpAddr> = records.iter().step_by(4).map(|n| n.ip).collect();
    let ini = render_ansible(&records, &held, "root", 22, Path::new("/root/.ssh/id_ed25519"));
    assert_eq!(
        ini.lines().filter(|l| l.contains(" ansible_host=")).count(),
        records.len()
    );
    assert_eq!(
        ini.lines()
            .filter(|l| l.starts_with('#') && l.contains(" ansible_host="))
            .count(),
        held.len()
    );
    for line in ini.lines().filter(|l| l.contains(" ansible_host=")) {
        let locals = line.matches("ansible_connection=").count();
        assert!(locals <= 1, "{line:?}");
        assert!(!line.contains('\t') && !line.contains('\r'), "{line:?}");
    }
});
