//! Node addresses: an IP and an SSH port, from the command line, hosts
//! files and the journal.
use crate::error::Error;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Where a node's sshd listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeAddr {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            write!(f, "{}", self.ip)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

impl NodeAddr {
    /// The journal's name for the node: always with the port.
    pub fn journal_name(&self) -> String {
        SocketAddr::new(self.ip, self.port).to_string()
    }

    pub fn socket(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

/// Parses `IP` or `IP:PORT` (`[v6]:PORT` for IPv6).
pub fn parse(text: &str, default_port: u16) -> Option<NodeAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(NodeAddr {
            ip: addr.ip(),
            port: addr.port(),
        });
    }
    text.parse::<IpAddr>().ok().map(|ip| NodeAddr {
        ip,
        port: default_port,
    })
}

/// The nodes named by `--host` options and a `--hosts-file`, in order, once each.
pub fn collect(
    hosts: &[String],
    hosts_file: Option<&str>,
    port: u16,
) -> Result<Vec<NodeAddr>, Error> {
    let mut nodes = Vec::new();
    for host in hosts {
        let what = format!("--host {host}");
        let node = parse(host, port)
            .ok_or_else(|| Error::bad_input(&what, "not an IP address; give IP or IP:PORT"))?;
        check_port(&what, node.port)?;
        push_once(&mut nodes, node);
    }
    if let Some(file) = hosts_file {
        for (index, line) in read_hosts_file(file)?.split(|b| *b == b'\n').enumerate() {
            let what = format!("{file}:{}", index + 1);
            // A comment may hold any bytes; the address must be text.
            let address = line.split(|b| *b == b'#').next().unwrap_or_default();
            let line = std::str::from_utf8(address)
                .map_err(|_| Error::bad_input(&what, "not text; give one IP or IP:PORT per line"))?
                .trim();
            if line.is_empty() {
                continue;
            }
            let node = parse(line, port).ok_or_else(|| {
                Error::bad_input(
                    &what,
                    format!("'{line}' is not an IP address; give one IP or IP:PORT per line"),
                )
            })?;
            check_port(&what, node.port)?;
            push_once(&mut nodes, node);
        }
    }
    Ok(nodes)
}

/// The most a hosts file may hold: a /16's addresses with ports, and room
/// for comments. More is no hosts file (`/dev/zero` read until memory ran out).
const MAX_HOSTS_FILE: usize = 4 << 20;

fn read_hosts_file(file: &str) -> Result<Vec<u8>, Error> {
    crate::fsutil::read_input(
        &format!("--hosts-file {file}"),
        std::path::Path::new(file),
        true,
        (MAX_HOSTS_FILE, "a hosts file"),
        "give a file with one node address per line",
    )
}

/// Port 0 is no port: every node would be "unreachable", for no reason
/// given. `what` names where the port came from.
pub fn check_port(what: &str, port: u16) -> Result<(), Error> {
    match port {
        0 => Err(Error::bad_input(what, "give a port from 1 to 65535")),
        _ => Ok(()),
    }
}

pub fn push_once(nodes: &mut Vec<NodeAddr>, node: NodeAddr) {
    if !nodes.contains(&node) {
        nodes.push(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        let node = parse("10.0.0.5", 22).unwrap();
        assert_eq!(node.to_string(), "10.0.0.5");
        assert_eq!(node.journal_name(), "10.0.0.5:22");
        let node = NodeAddr { port: 2222, ..node };
        assert_eq!(node.to_string(), "10.0.0.5:2222");
    }

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(parse("10.0.0.5", 22).unwrap().to_string(), "10.0.0.5");
        assert_eq!(parse(" 10.0.0.5:2222 ", 22).unwrap().port, 2222);
        assert_eq!(parse("[fe80::1]:22", 2).unwrap().port, 22);
        assert_eq!(parse("fe80::1", 2).unwrap().port, 2);
        assert!(parse("node1", 22).is_none());
        assert!(parse("10.0.0.256", 22).is_none());
    }

    #[test]
    fn hosts_file_errors_name_file_and_line() {
        let path = std::env::temp_dir().join(format!("rccr-hosts-{}", std::process::id()));
        std::fs::write(&path, "# nodes\n10.0.0.1\n\n10.0.0.1 # again\nbad-name\n").unwrap();
        let err = collect(&[], Some(path.to_str().unwrap()), 22).unwrap_err();
        assert!(err.to_string().contains(":5: 'bad-name'"), "{err}");
        std::fs::write(&path, "10.0.0.1\n10.0.0.2:23 # two\n10.0.0.1\n").unwrap();
        let nodes = collect(&["10.0.0.3".into()], Some(path.to_str().unwrap()), 22).unwrap();
        let names: Vec<_> = nodes.iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["10.0.0.3", "10.0.0.1", "10.0.0.2:23"]);
        // Port 0, bytes that are no text, a file without end.
        std::fs::write(&path, b"10.0.0.1 # \xff is fine here\n10.0.0.2:0\n").unwrap();
        let err = collect(&[], Some(path.to_str().unwrap()), 22).unwrap_err();
        crate::error::assert_says(
            &err,
            &format!("{}:2: give a port from 1 to 65535", path.display()),
        );
        std::fs::write(&path, b"10.0.0.1\n\xff10.0.0.2\n").unwrap();
        let err = collect(&[], Some(path.to_str().unwrap()), 22).unwrap_err();
        crate::error::assert_says(&err, &format!("{}:2: not text", path.display()));
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        let err = collect(&[], Some("/dev/zero"), 22).unwrap_err();
        crate::error::assert_says(&err, "--hosts-file /dev/zero: a device: ");
        std::fs::write(&path, vec![b'#'; MAX_HOSTS_FILE + 1]).unwrap();
        let err = collect(&[], Some(path.to_str().unwrap()), 22).unwrap_err();
        crate::error::assert_says(
            &err,
            &format!(
                "--hosts-file {}: larger than a hosts file can be",
                path.display()
            ),
        );
        std::fs::remove_file(&path).unwrap();
    }
}
