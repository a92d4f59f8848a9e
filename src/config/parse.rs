//! Small value parsers of the configuration.
use super::{Port, Protocol};

/// `8080:80`, `8080:80/tcp` or `5353:53/udp`.
pub fn parse_port(s: &str) -> Option<Port> {
    let (ports, protocol) = match s.split_once('/') {
        None => (s, Protocol::Tcp),
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some(_) => return None,
    };
    let (a, b) = ports.split_once(':')?;
    let num = |p: &str| -> Option<u16> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok().filter(|n| *n > 0)
    };
    Some(Port {
        published: num(a)?,
        target: num(b)?,
        protocol,
    })
}

/// The known key closest to `key` (case-insensitive optimal string
/// alignment distance), if it is close enough to be a typo.
pub fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (distance(&key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(super) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the edit-distance table.
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The keys a swarm placement constraint may name. swarmkit's
/// `NodeMatches` knows these (case-insensitively); a constraint on any
/// other key passes the API and then matches no node, so the service
/// never starts.
const CONSTRAINT_KEYS: [&str; 6] = [
    "node.id",
    "node.hostname",
    "node.ip",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
];
/// The label prefixes, followed by a label's key.
const LABEL_PREFIXES: [&str; 2] = ["node.labels.", "engine.labels."];
/// The forms swarm places tasks by, for messages.
const CONSTRAINT_FORMS: &str = "the forms are node.labels.KEY, engine.labels.KEY, node.role, node.hostname, node.id, node.ip, node.platform.arch or node.platform.os, then == or !=, then a value";

/// Why swarm would refuse the placement constraint `text`, or never place
/// a task by it; `None` when it takes it. The rules are swarmkit's
/// (moby/swarmkit, manager/constraint/constraint.go, `Parse` and
/// `NodeMatches`, at 3e72cb64):
/// - the operators are `==` and `!=` only; the text is split at the first
///   `==`, else at the first `!=`;
/// - the key, trimmed, matches `^(?i)[a-z_][a-z0-9\-_.]+$`;
/// - the value, trimmed, matches
///   `^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$` (no operator
///   characters such as `=`, `!`, `<`, `>`, `~`);
/// - the key is one `NodeMatches` knows ([`CONSTRAINT_KEYS`], or a label
///   prefix with a label after it); `node.role` is compared with
///   `manager` or `worker` and `node.ip` needs an address or a subnet,
///   else it matches no node.
pub fn constraint_error(text: &str) -> Option<String> {
    let Some((key, value)) = ["==", "!="]
        .iter()
        .find_map(|op| text.split_once(op))
        .map(|(k, v)| (k.trim(), v.trim()))
    else {
        return Some(format!("it has no == or !=; {CONSTRAINT_FORMS}"));
    };
    let key_ok = key.len() > 1
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    // Go's \s is ASCII white space only.
    let value_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " \t\n\r\x0c:-_.*()?+[]\\^$|/".contains(c));
    let lower = key.to_ascii_lowercase();
    let known = CONSTRAINT_KEYS.contains(&lower.as_str())
        || LABEL_PREFIXES
            .iter()
            .any(|p| lower.len() > p.len() && lower.starts_with(p));
    let matches_some = match lower.as_str() {
        "node.role" => ["manager", "worker"]
            .iter()
            .any(|r| value.eq_ignore_ascii_case(r)),
        "node.ip" => {
            let (addr, prefix) = value.split_once('/').unwrap_or((value, "0"));
            addr.parse::<std::net::IpAddr>().is_ok() && prefix.parse::<u8>().is_ok()
        }
        _ => true,
    };
    if !key_ok {
        Some(
            "its key has a character swarm refuses (it takes letters, digits, '-', '_' and '.')"
                .into(),
        )
    } else if value.is_empty() {
        Some("its value is empty; swarm needs one".into())
    } else if !value_ok {
        Some("its value has a character swarm refuses (it takes letters, digits, spaces and : - _ . * ( ) ? + [ ] \\ ^ $ | /)".into())
    } else if !known {
        Some(format!(
            "swarm matches no node on its key; {CONSTRAINT_FORMS}"
        ))
    } else if !matches_some {
        Some("no node ever has that value, so swarm would place no task (node.role is manager or worker, node.ip an address or a subnet)".into())
    } else {
        None
    }
}
