//! `--save` and `--since`: the live hosts of one scan, to compare a later
//! scan against. One host a line, `IP MAC` (`-` for no MAC), after a
//! comment line; a host is new when its address and MAC pair is not there.
use super::Host;
use crate::error::Error;
use crate::fsutil;
use crate::wire::ethernet::Address as MacAddr;
use std::net::Ipv4Addr;
use std::path::Path;

const HEADER: &str = "# rccr-scan snapshot: one live host a line, IP and MAC (- for none)\n";

/// The hosts a snapshot lists.
pub type Snapshot = Vec<(Ipv4Addr, Option<MacAddr>)>;

/// The snapshot text for `hosts`.
pub fn render(hosts: &[Host]) -> String {
    let mut out = String::from(HEADER);
    for host in hosts {
        out.push_str(&host.ip.to_string());
        out.push(' ');
        match host.mac {
            Some(mac) => out.push_str(core::str::from_utf8(&mac.to_text()).unwrap_or("-")),
            None => out.push('-'),
        }
        out.push('\n');
    }
    out
}

/// Parses snapshot text; `what` names the file in errors.
pub fn parse(text: &str, what: &str) -> Result<Snapshot, Error> {
    let mut hosts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            Error::bad_input(
                what,
                format!("line {}: expected \"IP MAC\", got {:?}", n + 1, line),
            )
        };
        let mut words = line.split_whitespace();
        let ip: Ipv4Addr = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let mac = match words.next() {
            Some("-") => None,
            Some(w) => Some(w.parse::<MacAddr>().map_err(|()| bad())?),
            None => return Err(bad()),
        };
        if words.next().is_some() {
            return Err(bad());
        }
        hosts.push((ip, mac));
    }
    Ok(hosts)
}

/// The longest line a snapshot holds.
const MAX_LINE: &str = "255.255.255.255 ff:ff:ff:ff:ff:ff\n";

/// The size of a snapshot of the largest sweep there is (a /8): more than
/// that is not one of ours, and reading it whole (a disk image, /dev/zero)
/// would take the control's memory.
const MAX_SIZE: usize = HEADER.len() + MAX_LINE.len() * (1 << (32 - super::plan::MAX_PREFIX));

/// Reads a snapshot file.
pub fn load(path: &Path) -> Result<Snapshot, Error> {
    let what = format!("--since {}", path.display());
    let bytes = fsutil::read_input(
        &what,
        path,
        true,
        (MAX_SIZE, "a snapshot"),
        "give the file rccr scan --save wrote",
    )?;
    let text = String::from_utf8(bytes).map_err(|_| Error::bad_input(&what, "not a text file"))?;
    parse(&text, &what)
}

/// Writes a snapshot of `hosts` atomically.
pub fn save(path: &Path, hosts: &[Host]) -> Result<(), Error> {
    fsutil::write_atomic(path, render(hosts).as_bytes(), 0o644)
}

/// Whether `host` is missing from `snapshot`.
pub fn is_new(host: &Host, snapshot: &Snapshot) -> bool {
    !snapshot.contains(&(host.ip, host.mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ip: &str, mac: Option<[u8; 6]>) -> Host {
        Host::new(ip.parse().unwrap(), mac.map(MacAddr))
    }

    #[test]
    fn round_trip() {
        let hosts = vec![
            host("10.0.0.5", Some([2, 0, 0, 0, 0, 5])),
            host("172.16.0.9", None),
        ];
        let text = render(&hosts);
        assert_eq!(text.lines().nth(1), Some("10.0.0.5 02:00:00:00:00:05"));
        let snapshot = parse(&text, "f").unwrap();
        assert_eq!(snapshot.len(), 2);
        assert!(hosts.iter().all(|h| !is_new(h, &snapshot)));
        assert!(is_new(
            &host("10.0.0.6", Some([2, 0, 0, 0, 0, 6])),
            &snapshot
        ));
        // Same address, another machine.
        assert!(is_new(
            &host("10.0.0.5", Some([2, 0, 0, 0, 0, 7])),
            &snapshot
        ));
    }

    #[test]
    fn bad_lines_are_named() {
        for bad in [
            "10.0.0.5",
            "10.0.0.5 zz",
            "10.0.0.300 -",
            "10.0.0.5 - extra",
            "{\"ip\": 1}",
        ] {
            let err = parse(&format!("# c\n{bad}\n"), "--since snap").unwrap_err();
            crate::error::assert_says(&err, "--since snap: line 2: ");
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        }
        assert!(parse("\n# only comments\n\n", "f").unwrap().is_empty());
    }

    #[test]
    fn save_and_load() {
        let dir = std::env::temp_dir().join(format!("rccr-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("snap");
        save(&path, &[host("10.0.0.5", None)]).unwrap();
        assert_eq!(
            load(&path).unwrap(),
            vec![("10.0.0.5".parse().unwrap(), None)]
        );
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert!(load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a text file"));
        // A device that never ends is refused, not read into memory.
        let err = load(Path::new("/dev/zero")).unwrap_err();
        crate::error::assert_says(&err, "--since /dev/zero: a device: ");
        let err = load(&dir.join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
