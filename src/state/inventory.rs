//! The cluster's inventory: rccr's own state file (`STATE/nodes`, one
//! tab-separated line per node) and the Ansible inventory rendered from it
//! (`STATE/inventory.ini`, groups `control` and `targets`). Both are
//! rewritten atomically; the user's cluster_config.yml is never touched.
//! `setup` writes them; `swarm` and `status` read them.
//!
//! A node is its host key: each run finds the nodes' addresses again,
//! and a node found at another address (by its MAC, with the host key
//! pinned for it; or presenting that host key on another network card)
//! is the same record, with the address (and MAC) found, and the address
//! it left in `moved-from` until the next run.
//!
//! Every field is a type that cannot hold a tab, a newline, a space or an
//! `=` ([`Hostname`], [`Mac`], [`Arch`], [`Fingerprint`], an address, a
//! role), so nothing a node says can add a field, a line or an Ansible
//! variable to either file: the writer needs no escaping, and what it
//! writes reads back as it was.
use crate::error::Error;
use crate::fsutil;
use crate::identity::{Arch, Hostname, Mac, Role};
use crate::ssh::Fingerprint;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

const HEADER: &str =
    "# rccr inventory: ip\tmac\thostname\trole\tarch\thost-key\tmoved-from (written by rccr setup)\n";
/// How an unknown value is written.
const NONE: &str = "-";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub ip: IpAddr,
    /// `None` when unknown (a host behind a router).
    pub mac: Option<Mac>,
    pub hostname: Hostname,
    pub role: Role,
    /// `None` when the node did not say, or said something else.
    pub arch: Option<Arch>,
    /// `SHA256:...` of the host key pinned for it (`None` for the control).
    pub host_key: Option<Fingerprint>,
    /// The address the last run found it had left.
    pub moved_from: Option<IpAddr>,
}

impl NodeRecord {
    /// Whether two records are one machine: same host key (a machine with
    /// two network cards may be found by either MAC), else same MAC, else
    /// same address.
    pub fn same_node(&self, other: &NodeRecord) -> bool {
        if self.host_key.is_some() && self.host_key == other.host_key {
            return true;
        }
        match (self.mac, other.mac) {
            (Some(a), Some(b)) => a == b,
            _ => self.ip == other.ip,
        }
    }

    /// The arch column: the `uname -m` name, or `-`.
    pub fn arch_name(&self) -> &'static str {
        self.arch.map_or(NONE, Arch::uname)
    }
}

fn optional<T: std::str::FromStr>(field: &str) -> Result<Option<T>, ()> {
    if field == NONE {
        return Ok(None);
    }
    field.parse().map(Some).map_err(|_| ())
}

/// What a bad inventory line is told.
const NOT_AN_INVENTORY_LINE: &str =
    "not an inventory line (ip, mac, hostname, role, arch, host-key); fix or remove it";

pub fn parse(text: &str, origin: &Path) -> Result<Vec<NodeRecord>, Error> {
    let mut nodes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = || Error::bad_line(origin, index, NOT_AN_INVENTORY_LINE);
        let fields: Vec<&str> = line.split('\t').collect();
        let (ip, mac, hostname, role, arch, host_key, moved_from) = match fields[..] {
            [ip, mac, hostname, role, arch, host_key, moved_from] => {
                (ip, mac, hostname, role, arch, host_key, moved_from)
            }
            // Written before moved-from existed.
            [ip, mac, hostname, role, arch, host_key] => {
                (ip, mac, hostname, role, arch, host_key, NONE)
            }
            _ => return Err(bad()),
        };
        nodes.push(NodeRecord {
            ip: ip.parse().map_err(|_| bad())?,
            mac: optional(mac).map_err(|()| bad())?,
            hostname: hostname.parse().map_err(|_| bad())?,
            role: role.parse().map_err(|()| bad())?,
            // An architecture rccr does not build for is not an error: the
            // node is kept, its arch unknown.
            arch: optional(arch).unwrap_or(None),
            host_key: optional(host_key).map_err(|()| bad())?,
            moved_from: optional(moved_from).map_err(|()| bad())?,
        });
    }
    Ok(nodes)
}

pub fn render(nodes: &[NodeRecord]) -> String {
    let mut out = String::from(HEADER);
    for n in nodes {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            n.ip,
            n.mac.map_or(NONE.into(), |m| m.to_string()),
            n.hostname,
            n.role,
            n.arch_name(),
            n.host_key.as_deref().unwrap_or(NONE),
            n.moved_from.map_or(NONE.into(), |ip| ip.to_string())
        );
    }
    out
}

/// Reads the state file; an absent file is an empty inventory.
pub fn load(path: &Path) -> Result<Vec<NodeRecord>, Error> {
    match fsutil::read_text_if_any(path, NOT_AN_INVENTORY_LINE)? {
        Some(text) => parse(&text, path),
        None => Ok(Vec::new()),
    }
}

/// Writes the state file and the Ansible inventory, atomically. The
/// nodes the last `rccr setup` held back (see [`save_holding`]) stay out
/// of the Ansible inventory: whoever rewrites it between two runs of
/// setup (`rccr remove`, `rccr keyrotate --rekey`, a restore) has not
/// told them from their copies either.
pub fn save(
    paths: &super::StatePaths,
    nodes: &[NodeRecord],
    user: &str,
    port: u16,
    key: &Path,
) -> Result<(), Error> {
    save_holding(paths, nodes, &held_back(paths, nodes)?, user, port, key)
}

/// The bytes of `inventory.ini` read at most: some 20 000 nodes' lines.
const MAX_INI: usize = 4 << 20;

/// The addresses of the targets of `nodes` that the last `rccr setup`
/// held back: the one reader of the Ansible inventory's held-back comment
/// lines ([`held_back_line`]), for every command that must not log in
/// where a copy of a node may answer. A line edited by hand into anything
/// else holds back nothing; an address no target of `nodes` has now is
/// none of theirs. An inventory.ini over [`MAX_INI`] is bad input.
pub fn held_back(paths: &super::StatePaths, nodes: &[NodeRecord]) -> Result<Vec<IpAddr>, Error> {
    let path = paths.inventory_ini();
    let remedy = "move it away, then run rccr setup to write it again";
    let Some(ini) = fsutil::read_trusted_within(&path, fsutil::Trust::Kept, (MAX_INI, remedy))?
    else {
        return Ok(Vec::new());
    };
    let held: Vec<IpAddr> = String::from_utf8_lossy(&ini)
        .lines()
        .filter_map(held_address)
        .collect();
    Ok(nodes
        .iter()
        .filter(|n| n.role == Role::Target && held.contains(&n.ip))
        .map(|n| n.ip)
        .collect())
}

/// The address of a held-back comment line (`# NAME ansible_host=IP:
/// held back, in no group: ...`), NAME a hostname.
fn held_address(line: &str) -> Option<IpAddr> {
    let (name, rest) = line.strip_prefix("# ")?.split_once(" ansible_host=")?;
    Hostname::parse(name).ok()?;
    rest.split_once(HELD_MARK)?.0.parse().ok()
}

/// What follows a held-back node's address in its comment line.
const HELD_MARK: &str = ": held back, in no group: ";

/// Why a node is held back, as inventory.ini and the commands that leave
/// it alone say it.
const WHY_HELD: &str = "a duplicate answers at this address and rccr setup cannot tell it from \
                        the node (setup's note says why)";

/// What a command that does not log in at a held-back node says of it.
pub fn held_back_note() -> String {
    format!(
        "held back: {WHY_HELD}; not logged in there: give the machine that is not the node its \
         own host keys, then run rccr setup"
    )
}

/// [`save`], with the nodes at `held` (held back by this run of setup: it
/// cannot tell them from a machine that answers at their address) kept in
/// the state file and left out of every group of the Ansible inventory.
pub fn save_holding(
    paths: &super::StatePaths,
    nodes: &[NodeRecord],
    held: &[IpAddr],
    user: &str,
    port: u16,
    key: &Path,
) -> Result<(), Error> {
    fsutil::write_atomic(&paths.nodes(), render(nodes).as_bytes(), 0o600)?;
    let ini = render_ansible(nodes, held, user, port, key);
    fsutil::write_atomic(&paths.inventory_ini(), ini.as_bytes(), 0o600)
}

/// Two records of one name, ignoring case (as DNS and Ansible users
/// do), as the refusal says them: Ansible would merge them into one host,
/// `rccr remove NAME` could pick either, and known_hosts would pin one key
/// for both. An inventory the pre-uniqueness rccr wrote, a hand edit or a
/// node renamed on itself can hold two. Setup calls this once, before it
/// changes anything, and refuses (it would record names); keyrotate and
/// restore only warn with it, and remove refuses only an ambiguous NAME,
/// since they make no name and a way out must not be refused. The writer
/// does not check: a refusal at the last step would come after changes.
pub fn check_names(nodes: &[NodeRecord]) -> Result<(), String> {
    for (i, a) in nodes.iter().enumerate() {
        if let Some(b) = nodes[..i]
            .iter()
            .find(|b| b.hostname.eq_ignore_ascii_case(&a.hostname))
        {
            return Err(format!(
                "two nodes of the inventory are named {} ({} at {} and {} at {}, case does not \
                 count): rename the one you keep on itself (rccr init --hostname NEW) and run \
                 rccr setup, or take out the one that is gone: rccr remove --forget {}",
                a.hostname.to_ascii_lowercase(),
                crate::print::name(&b.hostname),
                b.ip,
                crate::print::name(&a.hostname),
                a.ip,
                a.ip
            ));
        }
    }
    Ok(())
}

/// [`check_names`] as a command's refusal, before it has changed anything.
pub fn refuse_two_of_one_name(nodes: &[NodeRecord]) -> Result<(), Error> {
    check_names(nodes).map_err(|why| Error::Failed(format!("{why}; nothing was changed")))
}

/// The Ansible inventory's comment line of a held-back node: its host
/// line's first two words, commented out, and why. Its fields are types
/// that hold no space, `#` or newline, so no node can forge it.
fn held_back_line(n: &NodeRecord) -> String {
    format!(
        "# {} ansible_host={}{HELD_MARK}{WHY_HELD}; listed again once setup can",
        n.hostname, n.ip
    )
}

/// The Ansible inventory (INI): the control runs plays locally, targets
/// are reached as `user` at SSH `port` (`ssh.port`) with the cluster key. A
/// node at one of `held` is in no group (not in `all`, so no play and no
/// `ansible all` reaches whoever answers at its address), a comment in its
/// place says why.
pub fn render_ansible(
    nodes: &[NodeRecord],
    held: &[IpAddr],
    user: &str,
    port: u16,
    key: &Path,
) -> String {
    let mut out =
        String::from("# Ansible inventory written by rccr setup; rewritten on every run.\n");
    for (group, role) in [("control", Role::Control), ("targets", Role::Target)] {
        let _ = writeln!(out, "\n[{group}]");
        for n in nodes.iter().filter(|n| n.role == role) {
            if held.contains(&n.ip) {
                let _ = writeln!(out, "{}", held_back_line(n));
                continue;
            }
            let _ = write!(out, "{} ansible_host={}", n.hostname, n.ip);
            if role == Role::Control {
                out.push_str(" ansible_connection=local");
            } else {
                if port != 22 {
                    let _ = write!(out, " ansible_port={port}");
                }
                let _ = write!(
                    out,
                    " ansible_user={user} ansible_ssh_private_key_file={}",
                    key.display()
                );
            }
            let _ = writeln!(out, " rccr_role={} rccr_arch={}", n.role, n.arch_name());
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A node at `ip` named `name`, of a MAC, an arch and a host key.
    pub(crate) fn node(ip: &str, name: &str, role: Role) -> NodeRecord {
        NodeRecord {
            ip: ip.parse().unwrap(),
            mac: "02:52:43:4c:00:02".parse().ok(),
            hostname: name.parse().unwrap(),
            role,
            arch: Some(Arch::X86_64),
            host_key: "SHA256:abc".parse().ok(),
            moved_from: None,
        }
    }

    #[test]
    fn state_file_round_trips() {
        let mut nodes = vec![
            node("10.0.0.1", "ReCyClusteR-Control-000001", Role::Control),
            node("10.0.0.2", "ReCyClusteR-Target-000002", Role::Target),
        ];
        nodes[0].mac = None;
        nodes[0].host_key = None;
        nodes[0].arch = None;
        nodes[1].moved_from = "10.0.0.9".parse().ok();
        let text = render(&nodes);
        assert!(text.starts_with("# rccr inventory"));
        assert!(text.contains("\n10.0.0.1\t-\tReCyClusteR-Control-000001\tcontrol\t-\t-\t-\n"));
        assert!(text.ends_with("\tSHA256:abc\t10.0.0.9\n"), "{text}");
        assert_eq!(parse(&text, Path::new("nodes")).unwrap(), nodes);
        // A file of six fields, from before moved-from, still reads.
        let old = parse("10.0.0.2\t-\tt\ttarget\t-\t-\n", Path::new("n")).unwrap();
        assert_eq!(old[0].moved_from, None);
        assert!(parse("10.0.0.2\t-\tt\ttarget\t-\t-\tsomewhere\n", Path::new("n")).is_err());
    }

    #[test]
    fn one_host_key_is_one_node_whichever_of_its_macs_found_it() {
        let one = node("10.0.0.2", "t", Role::Target);
        let mut other_card = node("10.0.0.3", "t", Role::Target);
        other_card.mac = "02:52:43:4d:00:02".parse().ok();
        assert!(one.same_node(&other_card));
        other_card.host_key = "SHA256:other".parse().ok();
        assert!(!one.same_node(&other_card));
        // No host key recorded (the control, older lines): two such
        // records are one node only by MAC, else by address.
        let (mut a, mut b) = (one.clone(), other_card.clone());
        (a.host_key, b.host_key) = (None, None);
        assert!(!a.same_node(&b) && !b.same_node(&a));
        b.mac = a.mac;
        assert!(a.same_node(&b));
        (a.mac, b.mac) = (None, None);
        assert!(!a.same_node(&b));
        b.ip = a.ip;
        assert!(a.same_node(&b));
    }

    #[test]
    fn a_line_that_is_not_text_is_a_bad_line() {
        let home = crate::state::scratch::home("inventory-bytes");
        let path = home.paths.nodes();
        std::fs::write(&path, b"# nodes\n10.0.0.1\t-\th\xff\ttarget\t-\t-\n").unwrap();
        let err = load(&path).unwrap_err();
        crate::error::assert_says(&err, &format!("{}:2: ", path.display()));
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = parse("# x\n10.0.0.1\t-\th\tboss\t-\t-\n", Path::new("/s/nodes")).unwrap_err();
        crate::error::assert_says(&err, "/s/nodes:2:");
        assert!(parse("1.2.3\t-\th\ttarget\t-\t-\n", Path::new("n")).is_err());
        assert!(parse("10.0.0.1\t-\th\ttarget\n", Path::new("n")).is_err());
        assert!(parse("10.0.0.1\tm\th\ttarget\t-\t-\n", Path::new("n")).is_err());
        // An arch rccr does not know is kept as unknown.
        let nodes = parse("10.0.0.1\t-\th\ttarget\triscv64\t-\n", Path::new("n")).unwrap();
        assert_eq!(nodes[0].arch, None);
    }

    /// A small deterministic generator (xorshift), so the property tests
    /// see the same "random" input on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// A string mixing name characters with everything that could break
        /// a line, a field or an INI entry.
        fn text(&mut self) -> String {
            const PIECES: &[&str] = &[
                "a",
                "Z",
                "0",
                "-",
                ".",
                "\t",
                "\n",
                "\r",
                " ",
                "=",
                "#",
                "[",
                "]",
                ";",
                "\x1b[2J",
                "ansible_connection=local",
                "\u{0}",
                "é",
                "_",
                "ReCyClusteR",
            ];
            (0..self.below(12))
                .map(|_| PIECES[self.below(PIECES.len())])
                .collect()
        }
    }

    /// Records built from whatever of the fuzzed fields the types accept.
    fn fuzzed_records(rng: &mut Rng, n: usize) -> Vec<NodeRecord> {
        let mut records = Vec::new();
        while records.len() < n {
            let Ok(hostname) = Hostname::parse(&rng.text()) else {
                continue;
            };
            let o = rng.next().to_be_bytes();
            records.push(NodeRecord {
                ip: IpAddr::from([10, o[0], o[1], o[2]]),
                mac: (o[3] & 1 == 0).then_some(Mac([2, o[4], o[5], o[6], o[7], o[3]])),
                hostname,
                role: if o[4] & 1 == 0 {
                    Role::Target
                } else {
                    Role::Control
                },
                arch: Arch::ALL.get(rng.below(Arch::ALL.len() + 1)).copied(),
                host_key: Fingerprint::parse(&format!("SHA256:{}", rng.text())),
                moved_from: (o[5] & 1 == 0).then_some(IpAddr::from([10, o[6], o[7], o[2]])),
            });
        }
        records
    }

    #[test]
    fn nothing_a_node_says_adds_a_field_a_line_or_a_variable() {
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        for round in 0..500 {
            let nodes = fuzzed_records(&mut rng, 1 + round % 7);
            let text = render(&nodes);
            assert_eq!(text.lines().count(), nodes.len() + 1, "{text:?}");
            for line in text.lines().skip(1) {
                assert_eq!(line.split('\t').count(), 7, "{line:?}");
            }
            assert_eq!(parse(&text, Path::new("nodes")).unwrap(), nodes);
            let ini = render_ansible(&nodes, &[], "root", 22, Path::new("/root/.ssh/id_ed25519"));
            for (line, node) in ini.lines().filter(|l| l.contains(" ansible_host=")).zip(
                nodes
                    .iter()
                    .filter(|n| n.role == Role::Control)
                    .chain(nodes.iter().filter(|n| n.role == Role::Target)),
            ) {
                let words: Vec<&str> = line.split(' ').collect();
                assert_eq!(words[0], node.hostname.as_str(), "{line:?}");
                assert_eq!(
                    words.iter().filter(|w| w.contains('=')).count(),
                    words.len() - 1,
                    "{line:?}"
                );
                assert_eq!(
                    words
                        .iter()
                        .filter(|w| w.starts_with("ansible_connection="))
                        .count(),
                    usize::from(node.role == Role::Control),
                    "{line:?}"
                );
            }
            assert_eq!(
                ini.lines().filter(|l| l.contains(" ansible_host=")).count(),
                nodes.len()
            );
            // A node held back is a comment line in place of its host line.
            let held: Vec<IpAddr> = nodes.iter().step_by(3).map(|n| n.ip).collect();
            let ini = render_ansible(&nodes, &held, "root", 22, Path::new("/k"));
            let (comments, hosts): (Vec<&str>, Vec<&str>) = ini
                .lines()
                .filter(|l| l.contains(" ansible_host="))
                .partition(|l| l.starts_with('#'));
            let is_held = |n: &&NodeRecord| held.contains(&n.ip);
            assert_eq!(comments.len(), nodes.iter().filter(is_held).count());
            assert_eq!(hosts.len(), nodes.len() - comments.len(), "{ini}");
        }
    }

    #[test]
    fn lines_a_node_could_have_forged_are_refused() {
        for line in [
            "10.0.0.1\t-\tx ansible_connection=local\ttarget\t-\t-\n",
            "10.0.0.1\t-\tx\x1b[2J\ttarget\t-\t-\n",
            "10.0.0.1\t-\tx\ttarget\t-\tSHA256:a b\n",
            "10.0.0.1\t-\t\ttarget\t-\t-\n",
        ] {
            assert!(parse(line, Path::new("n")).is_err(), "{line:?}");
        }
    }

    /// `c1` at .1, `t1` at .2, `t2` at .3.
    fn control_and_two_targets() -> Vec<NodeRecord> {
        vec![
            node("10.0.0.1", "c1", Role::Control),
            node("10.0.0.2", "t1", Role::Target),
            node("10.0.0.3", "t2", Role::Target),
        ]
    }

    #[test]
    fn a_node_held_back_is_in_no_group_until_setup_lists_it_again() {
        let nodes = control_and_two_targets();
        let key = Path::new("/root/.ssh/id_ed25519");
        let ini = render_ansible(&nodes, &[nodes[1].ip], "root", 22, key);
        let hosts: Vec<&str> = ini
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(" ansible_host="))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(hosts, ["c1", "t2"], "{ini}");
        assert!(
            ini.contains("[targets]\n# t1 ansible_host=10.0.0.2: held back, in no group: a duplicate answers at this address and rccr setup cannot tell it from the node (setup's note says why); listed again once setup can\nt2 "),
            "{ini}"
        );
        // Written by setup, then by another command (rccr remove, say):
        // still held back; setup's next run decides again.
        let home = crate::state::scratch::home("inventory-held");
        let paths = &home.paths;
        let read = || std::fs::read_to_string(paths.inventory_ini()).unwrap();
        save_holding(paths, &nodes, &[nodes[1].ip], "root", 22, key).unwrap();
        save(paths, &nodes, "root", 22, key).unwrap();
        assert_eq!(read(), ini);
        assert_eq!(load(&paths.nodes()).unwrap(), nodes);
        // Only the node it named, where it was: at another address it is
        // not the node held back there.
        let mut moved = nodes.clone();
        moved[1].ip = "10.0.0.4".parse().unwrap();
        save(paths, &moved, "root", 22, key).unwrap();
        assert_eq!(read(), render_ansible(&moved, &[], "root", 22, key));
        save_holding(paths, &nodes, &[nodes[1].ip], "root", 22, key).unwrap();
        save_holding(paths, &nodes, &[], "root", 22, key).unwrap();
        assert_eq!(read(), render_ansible(&nodes, &[], "root", 22, key));
    }

    #[test]
    fn only_setup_s_held_back_lines_of_the_inventory_s_targets_hold_a_node_back() {
        let nodes = control_and_two_targets();
        let home = crate::state::scratch::home("inventory-held-reader");
        let paths = &home.paths;
        assert!(held_back(paths, &nodes).unwrap().is_empty());
        let key = Path::new("/k");
        save_holding(paths, &nodes, &[nodes[0].ip, nodes[1].ip], "root", 22, key).unwrap();
        assert_eq!(held_back(paths, &nodes).unwrap(), [nodes[1].ip]);
        // Edited by hand: a line that is no longer setup's holds back
        // nothing, another reason still does, bytes that are not text
        // are no reason to fail.
        let edited = b"# t2 ansible_host=10.0.0.3 held back, in no group: x\n\
            #t2 ansible_host=10.0.0.3: held back, in no group: x\n\
            # t 2 ansible_host=10.0.0.3: held back, in no group: x\n\
            # t2 ansible_host=10.0.0.3x: held back, in no group: x\n\
            # x ansible_host=10.0.0.9: held back, in no group: \n\
            \xff\n# t1 ansible_host=10.0.0.2: held back, in no group: mine\n";
        std::fs::write(paths.inventory_ini(), edited).unwrap();
        assert_eq!(held_back(paths, &nodes).unwrap(), [nodes[1].ip]);
        std::fs::write(paths.inventory_ini(), vec![b'#'; MAX_INI + 1]).unwrap();
        let err = held_back(paths, &nodes).unwrap_err();
        let said = format!(
            "{}: larger than rccr writes it ({MAX_INI} bytes): move it away, then run rccr setup",
            paths.inventory_ini().display()
        );
        crate::error::assert_says(&err, &said);
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
    }

    /// Two records of one name would merge into one Ansible host, and
    /// `rccr remove NAME` would pick either: the refusal names both
    /// records and both ways out, the second one removable by address.
    #[test]
    fn two_records_of_one_name_are_named_with_both_ways_out() {
        let mut nodes = control_and_two_targets();
        assert_eq!(check_names(&nodes), Ok(()));
        nodes[2].hostname = "T1".into();
        let why = check_names(&nodes).unwrap_err();
        assert!(
            why.starts_with(
                "two nodes of the inventory are named t1 (t1 at 10.0.0.2 and T1 at 10.0.0.3, \
                 case does not count)"
            ),
            "{why}"
        );
        assert!(
            why.contains("(rccr init --hostname NEW) and run rccr setup"),
            "{why}"
        );
        assert!(why.ends_with("rccr remove --forget 10.0.0.3"), "{why}");
        let err = refuse_two_of_one_name(&nodes).unwrap_err();
        assert!(err.to_string().ends_with("; nothing was changed"), "{err}");
    }

    #[test]
    fn ansible_inventory_has_both_groups() {
        let nodes = control_and_two_targets();
        let ini = render_ansible(&nodes, &[], "root", 22, Path::new("/root/.ssh/id_ed25519"));
        assert!(ini.contains("[control]\nc1 ansible_host=10.0.0.1 ansible_connection=local rccr_role=control rccr_arch=x86_64\n"), "{ini}");
        assert!(ini.contains("[targets]\nt1 ansible_host=10.0.0.2 ansible_user=root ansible_ssh_private_key_file=/root/.ssh/id_ed25519 rccr_role=target rccr_arch=x86_64\nt2 "), "{ini}");
    }

    /// With `ssh.port` other than 22, `ansible all -m ping` went to port 22:
    /// the targets carry the port; the control, reached locally, does not.
    #[test]
    fn ansible_inventory_names_a_port_other_than_22() {
        let nodes = control_and_two_targets();
        let ini = render_ansible(&nodes, &[], "admin", 2222, Path::new("/k"));
        assert!(
            ini.contains("\nc1 ansible_host=10.0.0.1 ansible_connection=local rccr_role"),
            "{ini}"
        );
        assert!(ini.contains("\nt1 ansible_host=10.0.0.2 ansible_port=2222 ansible_user=admin ansible_ssh_private_key_file=/k rccr_role"), "{ini}");
        assert_eq!(ini.matches(" ansible_port=2222 ").count(), 2, "{ini}");
    }
}
