//! A node's facts (`rccr::identity::FACTS_COMMAND`'s answer): any bytes.
//! Nothing panics; what parses is a valid name, at most one known arch,
//! at most one boot_id that prints as the UUID it was read from, and at
//! most `MAX_LOCAL_BLOCKS` distinct local blocks, each one the node owns,
//! MACs only as told;
//! the facts written back as a node would tell them parse to themselves.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::identity::{check_dns_name, Facts, MAX_LOCAL_BLOCKS};

fuzz_target!(|data: &[u8]| {
    let Ok(facts) = Facts::parse(data) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("facts are text");
    assert_eq!(check_dns_name(facts.hostname.as_ref()), Ok(()));
    assert!(facts.local.len() <= MAX_LOCAL_BLOCKS);
    let mut told = text.lines();
    let (name, arch) = (told.next().unwrap(), told.next().unwrap());
    assert!(facts.hostname == name);
    let mut again = format!("{name}\n{arch}\n");
    if let Some(boot) = facts.boot {
        let line = format!("boot {boot}");
        assert!(text.lines().nth(2) == Some(line.as_str()), "{text:?}");
        again += &format!("{line}\n");
    }
    for (i, block) in facts.local.iter().enumerate() {
        let line = format!("local {block}");
        assert!(text.lines().any(|l| l == line), "{text:?}");
        assert!(!facts.local[..i].contains(block));
        assert_eq!(facts.owns(block.network()), Some(true));
        again += &format!("{line}\n");
    }
    for mac in &facts.macs {
        let line = format!("mac {mac}");
        assert!(text.lines().any(|l| l == line), "{text:?}");
        again += &format!("{line}\n");
    }
    if facts.local.is_empty() {
        assert_eq!(facts.owns(std::net::Ipv4Addr::UNSPECIFIED), None);
    }
    assert_eq!(Facts::parse(again.as_bytes()).as_ref(), Ok(&facts));
});
