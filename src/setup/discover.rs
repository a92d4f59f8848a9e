//! Stages 1 and 2 of setup: discover the LAN's hosts with the scan engine,
//! then classify each by logging in. Nothing is written anywhere, and a
//! host's words never decide anything unparsed.
//!
//! Per host, on one connection:
//! 1. the host key, against the pins: a pinned host is offered only its
//!    pinned key types, and another key is `host-key-mismatch` (no key of
//!    ours is offered to it). A host whose MAC is a node's of the
//!    inventory is that node wherever it is now: its pins are the node's
//!    (its name and last address in known_hosts, its fingerprint in the
//!    inventory), so a node at a new address with its own host key is
//!    followed there (`moved_from`), and with another key is a mismatch.
//!    A host at an address its MAC does not say that shows, in the
//!    handshake, a node's pinned host key is that node too (libssh2 checks
//!    the host holds the private key: showing a public key is not enough),
//!    on its other network card: followed there by its host key
//!    (`moved_by_key`), where neither its recorded address nor its MAC
//!    finds it ([`one_address_each`]).
//!    An RSA host key under 2048 bits is `untrusted (weak host key)`,
//!    pinned or not: no key of ours is offered, nothing is pinned;
//! 2. a canary key no one holds ([`crate::keys::canary`]): a host that
//!    accepts it accepts any key, and is `untrusted (accepts any key)`;
//! 3. the cluster key (adopted, when the host is pinned: a node of the
//!    inventory, or a host key pinned in known_hosts; else `unpinned`, left
//!    alone: the cluster's public key is no secret, setup offers it to
//!    every SSH server that refuses the canary), else the temporary key
//!    (new; with a node's host key under another MAC, a copy of that
//!    node's card: `duplicate`, adopted at none);
//! 4. its facts ([`Facts`]), bounded to [`MAX_FACTS_LEN`] bytes and
//!    [`FACTS_DEADLINE`]: facts that do not parse make it
//!    `untrusted (bad facts)`. A node of the inventory that claims the
//!    name another node of it holds keeps its own recorded name. Its
//!    boot_id and whether this address is its own are kept for
//!    [`one_address_each`]: copies of one card and relays. Its own MACs
//!    decide whether the MAC that answered ARP is its ([`trust_mac`]).
use crate::config::Config;
use crate::error::Error;
use crate::identity::{
    name_matches, Arch, BootId, Facts, Hostname, Mac, Role, FACTS_COMMAND, MAX_FACTS_LEN,
};
use crate::keys::addr::NodeAddr;
use crate::keys::control::known_hosts::{
    host_field, named_field, KnownHosts, Pin, Reached, Unreached,
};
use crate::parallel;
use crate::scan;
use crate::ssh::{Connection, Fingerprint, Limits, SshError};
use crate::state::inventory::NodeRecord;
use crate::wire::ipv4::Cidr;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SSH logins during discovery, at once.
const PARALLEL: usize = 32;
pub const SSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a host may take to tell its facts.
pub const FACTS_DEADLINE: Duration = Duration::from_secs(10);

/// Why a host is not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distrust {
    /// It accepted the canary key, which no one holds.
    AcceptsAnyKey,
    /// What it said about itself does not parse (or never ended).
    BadFacts,
    /// Its host key is too weak to trust (RSA under 2048 bits): no key
    /// was offered to it, nothing pinned.
    WeakHostKey,
}

impl fmt::Display for Distrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Distrust::AcceptsAnyKey => "accepts any key",
            Distrust::BadFacts => "bad facts",
            Distrust::WeakHostKey => "weak host key",
        })
    }
}

/// How discovery sorted a live host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Accepts the temporary key and is named like a node: to adopt.
    New,
    /// Accepts the cluster key, and is pinned: already ours.
    Adopted,
    /// Accepts the cluster key, but its host key was never pinned: a node
    /// `rccr remove` took out, or a machine that learned the cluster's
    /// public key (setup offers it to every SSH server that refuses the
    /// canary). Not logged in to beyond that, never touched.
    Unpinned,
    /// Accepts the temporary key, but its name lacks the filter.
    Foreign,
    /// Accepts none of our keys.
    Refused,
    /// Port 22 closed, or no SSH conversation.
    NoSsh,
    /// Its host key is not the one pinned for it: none of our keys was
    /// offered.
    HostKeyMismatch,
    /// Another address of a machine adopted (or kept) at one of its
    /// addresses only: a new machine's host key at its higher addresses,
    /// a node of the inventory found at another address as well. Or a new
    /// host adopted at none: its MAC is another host key's too (a cloned
    /// MAC), its host key answers elsewhere as anything but new, or it is
    /// a node's host key under another MAC (a copy of the node's card,
    /// [`Probe::not_a_copy`]), or under another boot_id (copies of one
    /// card). Or a node's host key on two running machines that the MAC
    /// it was recorded with does not tell apart: kept at neither. Or a
    /// machine at an address it does not own (a relay, a NAT forwards its
    /// SSH port there). Or, set by the plan, a new host left with no
    /// name of its own: its pinned name is another node's, or every name
    /// setup could generate for it is taken. Shown, never touched here.
    Duplicate,
    /// Let us in, or has a host key too weak to trust, and is not to be
    /// believed: never adopted, never touched.
    Untrusted(Distrust),
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::New => "new",
            Class::Adopted => "adopted",
            Class::Unpinned => "unpinned",
            Class::Foreign => "foreign",
            Class::Refused => "refused",
            Class::NoSsh => "no-ssh",
            Class::HostKeyMismatch => "host-key-mismatch",
            Class::Duplicate => "duplicate",
            Class::Untrusted(_) => "untrusted",
        }
    }

    /// Whether the host is a node of the cluster, now or after this run.
    pub fn is_node(self) -> bool {
        matches!(self, Class::New | Class::Adopted)
    }
}

impl fmt::Display for Class {
    /// `new`, ..., `untrusted (bad facts)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::Untrusted(why) => write!(f, "untrusted ({why})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A live host and what we learnt about it: where it answers (and
/// whether that address and MAC are its own), what this run makes of it,
/// where the inventory had it, and what it says it is.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub ip: Ipv4Addr,
    pub mac: Option<Mac>,
    /// Why the MAC that answered ARP for this address is not taken as
    /// this host's (`mac` is then `None`): more than one MAC answered, or
    /// its facts list its own MACs and that one is not among them. Partly
    /// in the host's and the LAN's words: escape it.
    pub mac_note: Option<String>,
    /// Whether its facts say this address is its own: `Some(false)` is
    /// another host's that forwards its SSH port to it (a relay, a NAT);
    /// `None`, it did not say (an older system).
    pub own_address: Option<bool>,
    pub class: Class,
    /// What made an untrusted host so, partly in its words (escape it).
    pub note: Option<String>,
    pub role: Role,
    /// A new host (it takes the temporary key) left a `duplicate`, adopted
    /// at none, by discovery (a cloned MAC, its host key answering
    /// elsewhere as anything but new) or by the plan (no free name):
    /// `--expect` refuses the run, and the run fails naming it.
    pub was_new: bool,
    /// The address the inventory had for this node (same MAC, same host
    /// key; or its host key alone) when it is not this one.
    pub moved_from: Option<IpAddr>,
    /// Moved here by its host key alone: it showed, in the handshake, the
    /// host key of a node of the inventory whose MAC is not this one's
    /// (the node's other network card). Kept only where neither its
    /// recorded address nor its MAC finds that node.
    pub moved_by_key: bool,
    /// The authoritative name (read over SSH), else the DNS one.
    pub hostname: Option<Hostname>,
    pub arch: Option<Arch>,
    pub host_key: Option<Fingerprint>,
    /// The boot_id its facts told: one per running machine.
    pub boot: Option<BootId>,
}

impl Candidate {
    /// A host at `ip` (`mac`) that nothing is known of yet: no SSH.
    pub fn at(ip: Ipv4Addr, mac: Option<Mac>) -> Candidate {
        Candidate {
            ip,
            mac,
            mac_note: None,
            own_address: None,
            class: Class::NoSsh,
            note: None,
            role: Role::Target,
            was_new: false,
            moved_from: None,
            moved_by_key: false,
            hostname: None,
            arch: None,
            host_key: None,
            boot: None,
        }
    }
}

/// The keys and login settings discovery tries.
pub struct LoginKeys {
    pub user: String,
    pub port: u16,
    pub cluster: Option<PathBuf>,
    pub temporary: Option<PathBuf>,
    /// Where host keys are pinned.
    pub known_hosts: PathBuf,
}

/// Which subnets and interface to sweep: the command line's, else the
/// config's (read from `config_file`), else the scan engine's defaults.
pub fn scan_options(
    config: &Config,
    config_file: Option<&Path>,
    subnets: &[Cidr],
    iface: Option<&str>,
) -> scan::Options {
    let mut opts = scan::Options::new(&config.discovery.hostname_filter);
    // Setup has no --force: it sweeps a /16 at most.
    opts.force_flag = None;
    opts.subnets = if subnets.is_empty() {
        config.network.subnet.iter().copied().collect()
    } else {
        subnets.to_vec()
    };
    opts.iface = iface.map(str::to_string);
    if let (None, Some(name)) = (&opts.iface, &config.network.interface) {
        // An interface that is gone is the file's error, not --iface's.
        opts.iface = Some(name.clone());
        opts.iface_from = match config_file {
            Some(file) => format!("{}: network.interface", file.display()),
            None => "network.interface".into(),
        };
    }
    opts.timeout = Duration::from_millis(u64::from(config.discovery.timeout_ms));
    // A host has SSH where setup will log in to it.
    opts.ssh_port = config.ssh.port;
    opts
}

/// Sweeps the LAN and classifies every live host, knowing the nodes of
/// the inventory (`known`) by their MACs and host keys; roles come from the config's
/// pins (targets otherwise).
pub fn discover(
    config: &Config,
    scan_opts: &scan::Options,
    keys: &LoginKeys,
    known: &[NodeRecord],
    unsettled: &[NodeAddr],
) -> Result<Vec<Candidate>, Error> {
    let report = scan::run(scan_opts)?;
    for warning in &report.warnings {
        crate::print::warning("rccr setup", warning);
    }
    let probe = Probe {
        keys,
        config,
        canary: crate::keys::canary()?,
        known_hosts: KnownHosts::new(keys.known_hosts.clone()),
        known,
        unsettled,
    };
    let first = first_logins(&report.hosts, known);
    let budget = scan::names::login_budget(&report.hosts, &|h| first.contains(&h.ip));
    for warning in budget.warnings() {
        crate::print::warning("rccr setup", &warning);
    }
    let hosts: Vec<(&scan::Host, bool)> = report.hosts.iter().zip(budget.chosen).collect();
    let mut candidates = parallel::map(&hosts, PARALLEL, |(host, probed)| {
        if *probed {
            probe.classify(host)
        } else {
            unprobed(host)
        }
    });
    one_address_each(&mut candidates, known);
    moved_away(&mut candidates, known);
    for c in &mut candidates {
        c.role = config
            .pin(c.mac)
            .and_then(|p| p.role)
            .unwrap_or(Role::Target);
        for note in [&c.mac_note, &c.note].into_iter().flatten() {
            say(c, note);
        }
    }
    Ok(candidates)
}

/// Tells `note` of host `c` on stderr, escaped: partly in its words.
pub fn say(c: &Candidate, note: &str) {
    eprintln!(
        "rccr setup: {}: {}: {}",
        c.ip,
        c.class,
        crate::print::text(note)
    );
}

/// The most other addresses a note names.
const ADDRESSES_NAMED: usize = 3;

/// Where the inventory's nodes are logged in to first, so that a host
/// answering at many addresses cannot use up the logins before setup gets
/// to them: their recorded addresses, and, for a node that moved, the
/// lowest of `hosts` (sorted by address) its MAC answered alone at with
/// the SSH port open. Anyone can answer ARP with a node's MAC, at every
/// address: one address each.
fn first_logins(hosts: &[scan::Host], known: &[NodeRecord]) -> Vec<Ipv4Addr> {
    let mut moved = Vec::new();
    hosts
        .iter()
        .filter(|h| {
            known.iter().any(|k| k.ip == IpAddr::V4(h.ip))
                || h.ssh
                    && h.other_macs.is_empty()
                    && h.mac.is_some_and(|m| {
                        !moved.contains(&m) && known.iter().any(|k| k.mac == Some(m)) && {
                            moved.push(m);
                            true
                        }
                    })
        })
        .map(|h| h.ip)
        .collect()
}

/// Whether the inventory's `record` was at `ip`, or with `mac`.
fn recorded_at(record: &NodeRecord, ip: Ipv4Addr, mac: Option<Mac>) -> bool {
    record.ip == IpAddr::V4(ip) || (mac.is_some() && record.mac == mac)
}

/// What a machine whose host key is copied from another must do.
const COPIED_CARD: &str = "give it its own host keys: rm /etc/ssh/ssh_host_* there and \
     reboot, rccr-init makes new ones; then run setup again";

/// One machine, one address. An address a machine's facts say it does
/// not own (a relay, a NAT forwards its SSH port there) is a duplicate
/// first: nothing is adopted, kept or followed there. A host key that
/// answers at several addresses, all of them new hosts, with different
/// boot_ids is copies of one card: adopted at none, each told to make its
/// own host keys. With one boot_id (or none told), it is one machine
/// with several (two network cards, a cable and Wi-Fi, an alias, one
/// answering ARP for others): it is adopted once, at its lowest address
/// (one an interrupted rotation left it at first), and is a duplicate at
/// the others, so it is renamed, rotated, recorded and joined once. Its
/// host key proves it is one machine: a single new host gets no more. A
/// MAC that another host key (or none) answers at too pins no machine (a
/// cloned MAC): a new host there is adopted at none of its addresses,
/// nor is one whose host key answers elsewhere as anything but new. A
/// node of the inventory (its host key proves it) is kept at one
/// address: its recorded one; else the lowest its MAC moved it to; else
/// the lowest its host key alone moved it to (its other network card).
/// It is left alone at the others, so it is never recorded twice, nor
/// moved away from where it answers as it was recorded; another machine
/// with its MAC is a duplicate too, not that node reinstalled. Its host
/// key on two running machines (two boot_ids) is the node and a copy of
/// its card: the node is the one with the MAC it was recorded with (a
/// copy of a card cannot copy the board's MAC), kept by those rules at
/// that machine's addresses, and the other is told to make its own host
/// keys. When none or several of them have that MAC (or the inventory has
/// none), the node is kept and followed at none this run, and neither is
/// told to remove its host keys: one of them is the node.
fn one_address_each(candidates: &mut [Candidate], known: &[NodeRecord]) {
    let same_key = |a: &Candidate, b: &Candidate| a.host_key.is_some() && a.host_key == b.host_key;
    let same_mac = |a: &Candidate, b: &Candidate| a.mac.is_some() && a.mac == b.mac;
    // A new machine's MAC answers elsewhere with another host key, or
    // none. Found once for each (new ones are at most the logins): a
    // host answering ARP for a /16 makes the candidates many.
    let cloned_mac: Vec<bool> = candidates
        .iter()
        .map(|c| {
            c.class == Class::New
                && candidates
                    .iter()
                    .any(|o| o.ip != c.ip && same_mac(c, o) && !same_key(c, o))
        })
        .collect();
    // `o` is the node that `c` was moved to by its host key, found at its
    // recorded address or by its MAC.
    let at_home = |c: &Candidate, o: &Candidate| {
        c.moved_by_key
            && !o.moved_by_key
            && (Some(IpAddr::V4(o.ip)) == c.moved_from || o.moved_from == c.moved_from)
    };
    // New hosts adopted at none for a cloned MAC, or their host key
    // answering elsewhere as something else: any may be a node that
    // another machine made a duplicate ([`Candidate::was_new`]).
    let mut left_new: Vec<Ipv4Addr> = Vec::new();
    let notes: Vec<Option<String>> = candidates
        .iter()
        .map(|c| match c.class {
            Class::New | Class::Adopted if relayed(c) => Some(relay_note(c, candidates)),
            Class::New => {
                let (machine, cloned): (Vec<&Candidate>, Vec<bool>) = candidates
                    .iter()
                    .zip(&cloned_mac)
                    .filter(|(o, _)| o.ip == c.ip || (same_key(c, o) && !relayed(o)))
                    .unzip();
                if machine.iter().all(|o| o.class == Class::New) && !cloned.contains(&true) {
                    let boots: Vec<BootId> = machine.iter().filter_map(|o| o.boot).collect();
                    if boots.iter().any(|b| *b != boots[0]) {
                        let mut copies: Vec<Ipv4Addr> = machine
                            .iter()
                            .filter(|o| o.ip != c.ip)
                            .map(|o| o.ip)
                            .collect();
                        copies.sort_unstable();
                        return Some(format!(
                            "its host key {} answers at {} too, on another running machine \
                             (another boot_id): copies of one card; adopted at none ({COPIED_CARD})",
                            c.host_key.as_deref().unwrap_or("-"),
                            named(&copies)
                        ));
                    }
                    // One boot_id at every address: one machine, sure.
                    let one_boot = machine.iter().all(|o| o.boot.is_some());
                    return machine
                        .iter()
                        .min_by_key(|o| (o.moved_from.is_some(), o.ip))
                        .filter(|kept| kept.ip != c.ip)
                        .map(|kept| {
                            format!(
                                "the same machine (host key {}{}) answers at {}: adopted there \
                                 only{}",
                                kept.host_key.as_deref().unwrap_or("-"),
                                if one_boot { ", one boot_id" } else { "" },
                                kept.ip,
                                if one_boot {
                                    String::new()
                                } else {
                                    format!(
                                        " (it did not tell its boot_id: if this is another \
                                         machine, a copy of that one's card, {COPIED_CARD})"
                                    )
                                }
                            )
                        });
                }
                let others: Vec<Ipv4Addr> = candidates
                    .iter()
                    .filter(|o| o.ip != c.ip && (same_key(c, o) || same_mac(c, o)) && !relayed(o))
                    .map(|o| o.ip)
                    .collect();
                if !others.is_empty() {
                    left_new.push(c.ip);
                }
                (!others.is_empty()).then(|| {
                    format!(
                        "its host key or MAC answers at {} too, not as one new machine: a MAC \
                         that two machines share, or a machine that is something else there; \
                         adopted at none (give each machine its own MAC and its own host keys, \
                         then run setup again)",
                        named(&others)
                    )
                })
            }
            // A node's MAC with another host key: not that node reinstalled
            // (say so, or its note would have the user forget the node)
            // while the node answers elsewhere with its pinned key.
            Class::HostKeyMismatch => candidates
                .iter()
                .find(|o| o.class == Class::Adopted && same_mac(c, o) && !relayed(o))
                .map(|node| {
                    format!(
                        "its MAC is that of the node at {} ({}), which answers there with its \
                         pinned host key: another machine with a copied MAC; left alone",
                        node.ip,
                        node.hostname.as_deref().unwrap_or("-")
                    )
                }),
            // A node at its other addresses (the order is the doc's). A
            // move by host key yields to the node showing that key at its
            // recorded address, or where its MAC moved it, whatever it is
            // found there.
            Class::Adopted | Class::Unpinned => {
                let mut node: Vec<&Candidate> = candidates
                    .iter()
                    .filter(|o| {
                        same_key(c, o)
                            && !relayed(o)
                            && (o.class == Class::Adopted || at_home(c, o))
                    })
                    .collect();
                // Two running machines: the node is the one under the MAC
                // it was recorded with (a copy of its card has another).
                let boots: Vec<BootId> = node.iter().filter_map(|o| o.boot).collect();
                if boots.iter().any(|b| *b != boots[0]) {
                    let record = node_with_key(known, c.host_key.as_ref());
                    let mac = record.and_then(|k| k.mac);
                    let mut with_mac: Vec<Option<BootId>> = Vec::new();
                    for o in node.iter().filter(|o| mac.is_some() && o.mac == mac) {
                        if !with_mac.contains(&o.boot) {
                            with_mac.push(o.boot);
                        }
                    }
                    match with_mac[..] {
                        [Some(boot)] => node.retain(|o| o.boot == Some(boot)),
                        _ => return Some(undecided(c, &node, record, &with_mac)),
                    }
                }
                let kept = node
                    .into_iter()
                    .min_by_key(|o| (o.moved_from.is_some(), o.moved_by_key, o.ip))
                    .filter(|kept| kept.ip != c.ip)?;
                Some(match (kept.boot, c.boot) {
                    // Another running machine: a copy of the node's card
                    // made after it was adopted (its cluster key too).
                    (Some(a), Some(b)) if a != b => format!(
                        "its host key {} is that of the node at {}, which answers there from \
                         another running machine (another boot_id): a copy of its card; left \
                         alone ({COPIED_CARD})",
                        kept.host_key.as_deref().unwrap_or("-"),
                        kept.ip
                    ),
                    _ => format!(
                        "the node at {} (host key {}) answers here too: kept there only",
                        kept.ip,
                        kept.host_key.as_deref().unwrap_or("-")
                    ),
                })
            }
            _ => None,
        })
        .collect();
    for (c, note) in candidates.iter_mut().zip(notes) {
        if let Some(note) = note {
            // New hosts are at most the logins: a short search each.
            c.was_new = c.class == Class::New && left_new.contains(&c.ip);
            c.class = Class::Duplicate;
            c.note = Some(note);
            if relayed(c) {
                // Never followed to a relay's address.
                c.moved_from = None;
                c.moved_by_key = false;
            }
        }
    }
}

/// The note of an address of a node's host key that two running machines
/// (`node`, its addresses) show, when neither or several of them have the
/// MAC the node was recorded with (`with_mac`: their boot_ids), or one
/// that has it told none: setup cannot tell which is the node, and keeps
/// and follows it at none this run. Neither is told to remove its host
/// keys: one of them is the node.
fn undecided(
    c: &Candidate,
    node: &[&Candidate],
    record: Option<&NodeRecord>,
    with_mac: &[Option<BootId>],
) -> String {
    let mut others: Vec<Ipv4Addr> = node.iter().map(|o| o.ip).filter(|ip| *ip != c.ip).collect();
    others.sort_unstable();
    let (whose, why) = match (record, record.and_then(|k| k.mac)) {
        (Some(k), Some(mac)) => (
            format!(", the node {}'s,", k.hostname),
            match with_mac {
                [] => format!("none of them has the MAC it was recorded with ({mac})"),
                told if told.contains(&None) => {
                    format!("the one with the MAC it was recorded with ({mac}) told no boot_id")
                }
                told => format!(
                    "{} of them have the MAC it was recorded with ({mac})",
                    told.len()
                ),
            },
        ),
        _ => (String::new(), "the inventory has no MAC for it".into()),
    };
    format!(
        "its host key {}{whose} answers at {} too, from another running machine (another \
         boot_id), and {why}, so setup cannot tell which one is the node; kept and followed at \
         none this run: the node keeps its record and its host keys (find which machine is not \
         the node, give that one its own host keys, then run setup again)",
        c.host_key.as_deref().unwrap_or("-"),
        named(&others)
    )
}

/// A host with another host key where a node of the inventory was (at its
/// recorded address, or under its MAC) while that node answers elsewhere
/// with its pinned host key, and is followed there from that address:
/// the node moved, and this is another machine. Its note says so, not
/// that the node may have been reinstalled (whose remedy, forgetting the
/// node, would drop a node that is alive). A host with the MAC a node had
/// while the node answers at its recorded address under another MAC (its
/// old card in another machine) is told that: the node never moved. A
/// copied MAC the node moved with is [`one_address_each`]'s to tell.
fn moved_away(candidates: &mut [Candidate], known: &[NodeRecord]) {
    let notes: Vec<Option<String>> = candidates
        .iter()
        .map(|c| {
            if c.class != Class::HostKeyMismatch {
                return None;
            }
            let node = known.iter().find(|k| {
                k.role != Role::Control && k.host_key.is_some() && recorded_at(k, c.ip, c.mac)
            })?;
            let now = candidates.iter().find(|o| {
                o.ip != c.ip && o.class == Class::Adopted && o.host_key == node.host_key
            })?;
            let with_mac = c.mac.is_some() && c.mac == node.mac;
            if now.moved_from != Some(node.ip) {
                // The node answers where it was recorded, under another
                // MAC: this host has its old card, it never moved.
                return (with_mac && now.ip == node.ip).then(|| {
                    format!(
                        "its MAC is the one the node {} had, which answers at {}, where it was \
                         recorded, with its pinned host key {} (now under MAC {}): another \
                         machine with that MAC, host key {}; left alone",
                        node.hostname,
                        node.ip,
                        node.host_key.as_deref().unwrap_or("-"),
                        now.mac.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                        c.host_key.as_deref().unwrap_or("of another type"),
                    )
                });
            }
            if with_mac && now.mac == c.mac {
                return None;
            }
            Some(format!(
                "the node {} moved from {} to {}, where its pinned host key {} answers (setup \
                 follows it there); another machine answers here{}, with host key {}: not \
                 logging in, left alone",
                node.hostname,
                node.ip,
                now.ip,
                node.host_key.as_deref().unwrap_or("-"),
                if with_mac {
                    " under the MAC it had"
                } else {
                    ""
                },
                c.host_key.as_deref().unwrap_or("of another type"),
            ))
        })
        .collect();
    for (c, note) in candidates.iter_mut().zip(notes) {
        if note.is_some() {
            c.note = note;
        }
    }
}

/// The node of `known` pinned with this host key.
fn node_with_key<'k>(known: &'k [NodeRecord], key: Option<&Fingerprint>) -> Option<&'k NodeRecord> {
    let key = key?;
    known
        .iter()
        .find(|k| k.role != Role::Control && k.host_key.as_ref() == Some(key))
}

/// Its facts say this address is not its own: another host forwards its
/// SSH port to it (a relay, a NAT).
fn relayed(c: &Candidate) -> bool {
    c.own_address == Some(false)
}

/// What a machine reached at an address it does not own is told: not
/// adopted, pinned or followed there, and where it answers as itself.
fn relay_note(c: &Candidate, candidates: &[Candidate]) -> String {
    let mut own: Vec<Ipv4Addr> = candidates
        .iter()
        .filter(|o| o.host_key.is_some() && o.host_key == c.host_key && !relayed(o))
        .map(|o| o.ip)
        .collect();
    own.sort_unstable();
    let found = if own.is_empty() {
        "it answers at no address of its own that setup found (run setup where it \
         reaches that machine itself)"
            .to_string()
    } else {
        format!("it answers as itself at {}", named(&own))
    };
    format!(
        "this address is not one of its own (host key {}, {}): another host forwards its \
         SSH port to it here, a relay or a NAT; never adopted, pinned or followed here: {found}",
        c.host_key.as_deref().unwrap_or("-"),
        c.hostname.as_deref().unwrap_or("-")
    )
}

/// `a, b, c and N more`: at most [`ADDRESSES_NAMED`] addresses.
pub fn named(ips: &[Ipv4Addr]) -> String {
    let shown: Vec<String> = ips
        .iter()
        .take(ADDRESSES_NAMED)
        .map(Ipv4Addr::to_string)
        .collect();
    match ips.len().saturating_sub(ADDRESSES_NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Whether a host named `hostname`, at a trusted `mac`, is named like a
/// node: its name holds the filter, or is the one `nodes:` pins to its MAC.
/// Setup renames before it rotates, so a node one run gave its pinned name
/// (`pi-kitchen`, no filter in it) and could not rotate is still a node to
/// the next run, not a foreign host it never adopts. A name that is an
/// address (`10.0.0.7`, which a filter of digits holds) is no node's: it
/// would name another host, in known_hosts and the inventory.
fn named_ours(hostname: Option<&str>, config: &Config, mac: Option<Mac>) -> bool {
    let pinned = config.pin(mac).and_then(|p| p.hostname.as_deref());
    hostname.is_some_and(|n| {
        n.parse::<IpAddr>().is_err()
            && (name_matches(n, &config.discovery.hostname_filter)
                || pinned.is_some_and(|p| p.eq_ignore_ascii_case(n)))
    })
}

/// What classification needs, shared by every host's thread.
struct Probe<'a> {
    keys: &'a LoginKeys,
    /// Its hostname filter and `nodes:` pins.
    config: &'a Config,
    /// The canary key's private half, OpenSSH text (memory only).
    canary: String,
    known_hosts: KnownHosts,
    /// The inventory: nodes by MAC.
    known: &'a [NodeRecord],
    /// The nodes an interrupted rotation left unsettled, by address.
    unsettled: &'a [NodeAddr],
}

impl Probe<'_> {
    /// Classifies one host (see the module's steps). Writes nothing
    /// anywhere, and runs nothing on a host it does not trust.
    ///
    /// The MAC that answered ARP is the host's for identity only when no
    /// other MAC answered for the address and, where its facts list its
    /// own MACs, it is among them; of several that answered, the one its
    /// facts list (one only) is. Any host on the LAN can answer ARP for
    /// another's address: an untrusted MAC is taken as unknown, so it
    /// picks no node's pins, clones no MAC, matches no `nodes:` pin and is
    /// never recorded. A host whose MAC is a node's but whose host key is
    /// another node's is a mismatch only once its facts did not show the
    /// MAC to be another machine's (an older node that lists none: as
    /// before, a mismatch); with any other host key, at once.
    fn classify(&self, host: &scan::Host) -> Candidate {
        let mut c = unprobed(host);
        let mut heard: Vec<Mac> = host.mac.into_iter().collect();
        heard.extend(&host.other_macs);
        if heard.len() > 1 {
            c.mac = None;
        }
        let mut doubt = MacDoubt::default();
        if host.ssh {
            self.probe(&mut c, &heard, &mut doubt);
        }
        if let (Some(why), false) = (doubt.mismatch, doubt.disproved) {
            c.class = Class::HostKeyMismatch;
            c.note = Some(why);
            c.moved_from = None;
            c.moved_by_key = false;
        }
        if c.mac.is_none() && !heard.is_empty() {
            c.mac_note = Some(mac_note(c.ip, &heard, doubt.own.as_deref()));
        }
        c
    }

    /// Steps 1 to 4 on a host that takes TCP connections on port 22.
    fn probe(&self, c: &mut Candidate, heard: &[Mac], doubt: &mut MacDoubt) {
        let Some((mut conn, pinned)) = self.connect(c, doubt) else {
            return;
        };
        let keys = self.keys;
        match conn.authenticate_with(&keys.user, &self.canary) {
            Err(SshError::Denied) => {}
            Ok(()) => {
                c.class = Class::Untrusted(Distrust::AcceptsAnyKey);
                c.note = Some("it let a key no one holds log in".into());
                return;
            }
            Err(e) => {
                c.note = Some(format!("cannot offer the canary key: {e}"));
                return;
            }
        }
        let try_key = |key: &Option<PathBuf>| match key {
            Some(path) => conn.authenticate(&keys.user, path),
            None => Err(SshError::Denied),
        };
        let class = if try_key(&keys.cluster).is_ok() {
            if !pinned {
                c.class = Class::Unpinned;
                c.note = Some(format!(
                    "accepts the cluster key, but its host key {} was never pinned: left alone \
                     (to take it in, check that fingerprint on its console, then pin it: \
                     ssh root@{} true)",
                    c.host_key.as_deref().unwrap_or("-"),
                    c.ip
                ));
                return;
            }
            Class::Adopted
        } else if try_key(&keys.temporary).is_ok() {
            Class::New
        } else {
            c.class = Class::Refused;
            return;
        };
        conn.set_limits(Limits {
            max_output: MAX_FACTS_LEN,
            deadline: FACTS_DEADLINE,
        });
        let facts = match conn.run(FACTS_COMMAND, b"") {
            Ok(out) if out.success() => Facts::parse(&out.stdout).map_err(|e| e.to_string()),
            Ok(out) => Err(format!("hostname; uname -m: {}", out.error_line())),
            Err(e) => Err(e.to_string()),
        };
        match facts {
            Ok(facts) => {
                trust_mac(c, heard, &facts, doubt);
                c.own_address = facts.owns(c.ip);
                c.boot = facts.boot;
                c.hostname = Some(self.own_name(c, facts.hostname));
                c.arch = facts.arch;
            }
            Err(why) => {
                c.class = Class::Untrusted(Distrust::BadFacts);
                c.note = Some(why);
                return;
            }
        }
        let named_ours = named_ours(c.hostname.as_deref(), self.config, c.mac);
        c.class = match class {
            Class::New if !named_ours => Class::Foreign,
            other => other,
        };
        if c.class == Class::New {
            self.not_a_copy(c);
        }
    }

    /// A new host whose host key is a node's of the inventory under
    /// another MAC is a copy of that node's card, not the node: the node
    /// left the temporary key behind when it was adopted. It is adopted
    /// at none of its addresses (it would take the node's record, name
    /// and pins), and told to make its own host keys.
    fn not_a_copy(&self, c: &mut Candidate) {
        let Some(node) = self
            .node_with_key(c.host_key.as_ref())
            .filter(|k| k.mac != c.mac)
        else {
            return;
        };
        c.class = Class::Duplicate;
        c.moved_from = None;
        c.moved_by_key = false;
        c.note = Some(format!(
            "its host key is that of the node {} ({}, {}), yet it takes the temporary key, \
             which that node no longer does: a copy of its card; adopted at none \
             ({COPIED_CARD})",
            node.hostname,
            node.ip,
            node.mac
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }

    /// The name a node that told `told` goes by. A node of the inventory
    /// that claims the name of another node of it (the control's
    /// included) keeps its own recorded name, and the claim is noted: two
    /// records of one name would merge into one Ansible host, and pin two
    /// host keys for one name. New hosts with a taken name are renamed
    /// by the plan instead.
    fn own_name(&self, c: &mut Candidate, told: Hostname) -> Hostname {
        let node = self.known_node(c.mac);
        let Some(node) = node.or_else(|| self.node_with_key(c.host_key.as_ref())) else {
            return told;
        };
        let Some(holder) = self
            .known
            .iter()
            .find(|k| k.mac != node.mac && k.hostname.eq_ignore_ascii_case(&told))
        else {
            return told;
        };
        c.note = Some(format!(
            "says its name is {told}, the name of {} ({}): keeping {}",
            holder.ip, holder.role, node.hostname
        ));
        node.hostname.clone()
    }

    /// The inventory's node with this MAC and a pinned host key.
    fn known_node(&self, mac: Option<Mac>) -> Option<&NodeRecord> {
        let mac = mac?;
        self.known
            .iter()
            .find(|k| k.mac == Some(mac) && k.role != Role::Control && k.host_key.is_some())
    }

    /// The inventory's node pinned with this host key.
    fn node_with_key(&self, key: Option<&Fingerprint>) -> Option<&NodeRecord> {
        node_with_key(self.known, key)
    }

    /// Connects offering only the pinned host key types, and checks the
    /// host key against the pins; records the key's fingerprint. With the
    /// connection, whether the host is pinned (a node of the inventory, or
    /// its key in known_hosts). `None` (class set) when the host is not to
    /// be logged in to. A known node's pins are those of its name and last
    /// address, and the fingerprint the inventory holds; a host new to the
    /// inventory has those of its address. A host its MAC does not make a
    /// node is offered the key types pinned for its address (any, when
    /// none is): it shows the key of the type libssh2 picks of all, as it
    /// did when it was first seen and pinned, so a node is found by its
    /// host key where no pin of another type names the address.
    fn connect(&self, c: &mut Candidate, doubt: &mut MacDoubt) -> Option<(Connection, bool)> {
        let ip: IpAddr = c.ip.into();
        let port = self.keys.port;
        let mut node = self.known_node(c.mac);
        let pins_of = |k: &NodeRecord| vec![named_field(&k.hostname, port), host_field(k.ip, port)];
        let mut hosts = match node {
            Some(k) => pins_of(k),
            None => vec![host_field(ip, port)],
        };
        let Reached { conn, key } = match self.known_hosts.connect_as(ip, port, &hosts, SSH_TIMEOUT)
        {
            Ok(reached) => reached,
            Err(Unreached::OtherType(why)) => {
                c.class = Class::HostKeyMismatch;
                c.note = Some(why);
                return None;
            }
            Err(Unreached::WeakHostKey(why)) => {
                c.class = Class::Untrusted(Distrust::WeakHostKey);
                c.note = Some(why);
                return None;
            }
            Err(Unreached::Failed(why)) => {
                // Port 22 took the scan's connection: say why this is not
                // SSH after all, or the plan's "no SSH" leaves the user
                // guessing (a broken sshd, a slow Pi, another service).
                c.note = Some(format!("port {port} answers, but not as SSH: {why}"));
                return None;
            }
        };
        c.host_key = Some(key.fingerprint.clone());
        if let Some(k) = node {
            if k.host_key.as_ref() != Some(&key.fingerprint) {
                let note = format!(
                    "host key {} is not {}, the one {} ({}) had at {}: not logging in \
                     (if that machine was reinstalled, rccr remove --forget {}, then setup again)",
                    key.fingerprint,
                    k.host_key.as_deref().unwrap_or("-"),
                    k.hostname,
                    k.mac.map(|m| m.to_string()).unwrap_or_default(),
                    k.ip,
                    k.hostname
                );
                if self.node_with_key(Some(&key.fingerprint)).is_none() {
                    c.class = Class::HostKeyMismatch;
                    c.note = Some(note);
                    return None;
                }
                // Another node's host key, proven in the handshake: that
                // node, unless its facts say this MAC is its own (a copied
                // MAC); the MAC may be another host's ARP answer for this
                // address. Until then its MAC is unknown.
                doubt.mismatch = Some(note);
                node = None;
                hosts = vec![host_field(ip, port)];
            } else {
                c.moved_from = (k.ip != ip).then_some(k.ip);
            }
        }
        let mut pin = self.known_hosts.check_key_as(&hosts, &key);
        // A node's host key at an address its MAC does not say (its other
        // network card; a MAC the inventory lacks): that node, for the
        // handshake proved this host holds its private host key. Its pins
        // are then the node's, as for a node its MAC found.
        if let (None, Ok(Pin::Match | Pin::Unknown), Some(k)) =
            (node, &pin, self.node_with_key(Some(&key.fingerprint)))
        {
            c.moved_from = (k.ip != ip).then_some(k.ip);
            c.moved_by_key = c.moved_from.is_some();
            pin = self.known_hosts.check_key_as(&pins_of(k), &key);
            node = Some(k);
        }
        match pin {
            Ok(Pin::Match) => Some((conn, true)),
            Ok(Pin::Unknown) if node.is_some() => Some((conn, true)),
            Ok(Pin::Unknown) => {
                // Not in the inventory yet, as a node whose adoption was
                // interrupted is not: its key pinned at an address the
                // rotation left unsettled says it is that node, on a new
                // lease (a host key cannot be faked).
                let old = self.unsettled.iter().find(|n| {
                    n.ip != ip
                        && matches!(
                            self.known_hosts.check_key(n.ip, n.port, &key),
                            Ok(Pin::Match)
                        )
                });
                c.moved_from = old.map(|n| n.ip);
                Some((conn, old.is_some()))
            }
            Ok(Pin::Mismatch { line }) => {
                c.class = Class::HostKeyMismatch;
                c.note = Some(self.known_hosts.mismatch(&key, line));
                None
            }
            Err(e) => {
                c.note = Some(e.to_string());
                None
            }
        }
    }
}

/// A host as the sweep found it, with its DNS name: not logged in to.
fn unprobed(host: &scan::Host) -> Candidate {
    Candidate {
        hostname: host
            .hostname
            .as_deref()
            .and_then(|n| Hostname::parse(n).ok()),
        ..Candidate::at(host.ip, host.mac)
    }
}

/// What is still open about the MAC that answered ARP for a host.
#[derive(Default)]
struct MacDoubt {
    /// The note of a host key that is not the one of the node this MAC
    /// is: a mismatch unless the facts show the MAC is not this host's.
    mismatch: Option<String>,
    /// The facts listed the host's MACs, and the one ARP answered with
    /// (alone) is not among them.
    disproved: bool,
    /// The MACs the facts listed, for the note (`None`: none told).
    own: Option<Vec<Mac>>,
}

/// The most MACs of its own a note names.
const MACS_NAMED: usize = 4;

/// Takes the MAC the facts confirm: of the MACs `heard` for the host's
/// address, the first its facts list as its own (a machine with two cards
/// on the LAN answers ARP from both, Linux's default: both are its own,
/// and the first heard is the one a single card would give); with no MACs
/// told, the one heard if it was alone (`c.mac` as it is); else none.
fn trust_mac(c: &mut Candidate, heard: &[Mac], facts: &Facts, doubt: &mut MacDoubt) {
    if facts.macs.is_empty() {
        return;
    }
    doubt.own = Some(facts.macs.iter().take(MACS_NAMED).copied().collect());
    let own: Vec<Mac> = heard
        .iter()
        .copied()
        .filter(|m| facts.has_mac(*m) == Some(true))
        .collect();
    doubt.disproved = heard.len() == 1 && own.is_empty();
    c.mac = own.first().copied();
}

/// Why the MACs `heard` at `ip` give the host no MAC; `own`, the MACs its
/// facts listed.
fn mac_note(ip: Ipv4Addr, heard: &[Mac], own: Option<&[Mac]>) -> String {
    let list = |macs: &[Mac]| {
        macs.iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let why = match (heard, own) {
        ([_], Some(own)) => format!(
            "ARP answered for {ip} with {}, which it does not list among its own MACs ({})",
            list(heard),
            list(own)
        ),
        (_, Some(own)) => format!(
            "ARP answered for {ip} with {}, and its own MACs ({}) are not one of them",
            list(heard),
            list(own)
        ),
        (_, None) => format!(
            "ARP answered for {ip} with {} (another host answering for this address, or an \
             address conflict)",
            list(heard)
        ),
    };
    format!(
        "{why}: its MAC is taken as unknown (it picks no node, is matched by no nodes: pin and \
         is not recorded; find the host that answers ARP for {ip})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Candidates from lines `IP-LAST-BYTE MAC-LAST-BYTE KEY CLASS [MOVED-FROM[k]]
    /// [bN] [own|relay]` (10.0.0.X, 02:00:00:00:00:0Y, SHA256:KEY; `k`:
    /// moved by its host key alone; `bN`: its facts told boot_id N; `own`
    /// and `relay`: they say this address is its own, or not), `#`
    /// comments.
    fn found(table: &str) -> Vec<Candidate> {
        let ip = |byte: &str| format!("10.0.0.{byte}").parse().unwrap();
        let class = |word: &str| match word {
            "new" => Class::New,
            "adopted" => Class::Adopted,
            "foreign" => Class::Foreign,
            "refused" => Class::Refused,
            "host-key-mismatch" => Class::HostKeyMismatch,
            "unpinned" => Class::Unpinned,
            "no-ssh" => Class::NoSsh,
            other => panic!("{other}"),
        };
        table
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default())
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let w: Vec<&str> = line.split_whitespace().collect();
                let mac = format!("02:00:00:00:00:0{}", w[1]).parse().ok();
                let moved = w[4..]
                    .iter()
                    .find(|b| b.starts_with(|c: char| c.is_ascii_digit()));
                let boot = w[4..].iter().find_map(|b| b.strip_prefix('b'));
                Candidate {
                    // `-`: none (no SSH).
                    host_key: Fingerprint::parse(&format!("SHA256:{}", w[2]))
                        .filter(|_| w[2] != "-"),
                    class: class(w[3]),
                    moved_from: moved.map(|b| IpAddr::V4(ip(b.trim_end_matches('k')))),
                    moved_by_key: moved.is_some_and(|b| b.ends_with('k')),
                    boot: boot.map(|n| {
                        format!("{n:0>8}-0000-4000-8000-000000000000")
                            .parse()
                            .unwrap()
                    }),
                    own_address: w[4..].iter().find_map(|b| match *b {
                        "own" => Some(true),
                        "relay" => Some(false),
                        _ => None,
                    }),
                    ..Candidate::at(ip(w[0]), mac)
                }
            })
            .collect()
    }

    /// The inventory's record of node `node-KEY` at 10.0.0.IP with MAC
    /// 02:00:00:00:00:0MAC and host key SHA256:KEY.
    fn record(ip: u8, mac: u8, key: &str) -> NodeRecord {
        NodeRecord {
            ip: IpAddr::from([10, 0, 0, ip]),
            mac: format!("02:00:00:00:00:0{mac}").parse().ok(),
            hostname: Hostname::parse(&format!("node-{}", key.to_lowercase())).unwrap(),
            role: Role::Target,
            arch: None,
            host_key: Fingerprint::parse(&format!("SHA256:{key}")),
            moved_from: None,
        }
    }

    /// A host answering ARP with a node's MAC at many addresses (and with
    /// a MAC of its own there too) gets none of them logged in to first:
    /// before, each counted as the node, and 1,024 of them below the
    /// node's address took every login of the run.
    #[test]
    fn a_forged_node_mac_gets_no_address_logged_in_to_first() {
        let mac = |n: u32| {
            let text = format!("02:00:00:00:{:02x}:{:02x}", n >> 8, n & 0xff);
            Some(text.parse().unwrap())
        };
        let ip = |n: u32| Ipv4Addr::from(0x0a00_0000 + n);
        let host = |n: u32, macs: &[u32]| scan::Host {
            ssh: true,
            other_macs: macs[1..].iter().map(|&m| mac(m).unwrap()).collect(),
            ..scan::Host::new(ip(n), mac(macs[0]))
        };
        let node = NodeRecord {
            ip: ip(5000).into(),
            ..record(0, 1, "A")
        };
        let moved = record(0, 2, "B");
        // 1,100 addresses below the node's, each with its MAC and another.
        let mut hosts: Vec<scan::Host> = (1..=1100).map(|n| host(n, &[1, 0x100 + n])).collect();
        // The moved node's MAC, alone, at three addresses: the lowest with
        // SSH only (a forged answer with the port shut takes no slot).
        let shut = scan::Host {
            ssh: false,
            ..host(1999, &[2])
        };
        hosts.extend([shut, host(2000, &[2]), host(2001, &[2]), host(5000, &[1])]);
        let first = first_logins(&hosts, &[node, moved]);
        assert_eq!(first, [ip(2000), ip(5000)]);
        let budget = scan::names::login_budget(&hosts, &|h| first.contains(&h.ip));
        assert!(budget.chosen[1101] && budget.chosen[1103]);
    }

    /// The control was renamed from alpha to beta since the last run:
    /// discover judges an adopted node's name by this run's control
    /// record, as the plan does. Judged by the inventory's old one, a
    /// node telling alpha (now free) was renamed back to its recorded
    /// name, and one telling beta was refused at setup's start.
    #[test]
    fn an_adopted_node_s_name_is_judged_by_the_control_of_this_run() {
        let mut old = record(1, 1, "C");
        (old.role, old.host_key) = (Role::Control, None);
        old.hostname = Hostname::parse("alpha").unwrap();
        let now = NodeRecord {
            hostname: Hostname::parse("beta").unwrap(),
            ..old.clone()
        };
        let known = super::super::record::with_control(vec![old, record(6, 6, "T")], now);
        let (config, path) = (Config::default(), PathBuf::new());
        let keys = LoginKeys {
            user: "root".into(),
            port: 22,
            cluster: None,
            temporary: None,
            known_hosts: path.clone(),
        };
        let probe = Probe {
            keys: &keys,
            config: &config,
            canary: String::new(),
            known_hosts: KnownHosts::new(path),
            known: &known,
            unsettled: &[],
        };
        let told = |name: &str| {
            let mut c = found("6 6 T adopted").remove(0);
            let name = probe.own_name(&mut c, Hostname::parse(name).unwrap());
            (name.to_string(), c.note)
        };
        let note = "says its name is BETA, the name of 10.0.0.1 (control): keeping node-t";
        assert_eq!(told("BETA"), ("node-t".into(), Some(note.into())));
        assert_eq!(told("alpha"), ("alpha".into(), None));
    }

    /// After [`one_address_each`] (the inventory `known`), the candidates'
    /// classes are `classes`, and each `(i, text)` of `notes` is in the
    /// note of the i-th.
    fn assert_sorted(
        mut found: Vec<Candidate>,
        known: &[NodeRecord],
        classes: &str,
        notes: &[(usize, &str)],
    ) -> Vec<Candidate> {
        one_address_each(&mut found, known);
        let got: Vec<&str> = found.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(got.join(" "), classes);
        for (i, text) in notes {
            let note = found[*i].note.as_deref().unwrap_or_default();
            assert!(note.contains(text), "{i}: {note}");
        }
        found
    }

    /// An honest new node whose MAC a host answers ARP with at a spare
    /// address (no SSH there) is a duplicate, adopted at none, and an
    /// imposter holding the temporary key is a new node in its place:
    /// `--expect` counted it and let it be adopted (review setup-flow,
    /// finding 1). The node left a duplicate refuses the count.
    #[test]
    fn a_new_node_left_a_duplicate_by_a_cloned_mac_refuses_expect() {
        let mut found = found(
            "
            5 5 A new
            9 5 - no-ssh # answers ARP with the node's MAC
            6 6 H new # the imposter
            7 7 M new
            8 8 M new # the same machine: adopted at .7
            ",
        );
        one_address_each(&mut found, &[]);
        assert_eq!(found[0].class, Class::Duplicate);
        assert!(found[0].was_new);
        assert_eq!(found[4].class, Class::Duplicate);
        assert!(!found[4].was_new);
        let plan = |config: &Config| {
            super::super::plan::plan(found.clone(), &[super::super::plan::control()], config)
        };
        // Under `adopt: listed`, a stranger nobody listed is no new node
        // of this cluster, duplicate or not.
        let mut listed = Config::default();
        listed.discovery.adopt = crate::config::AdoptPolicy::Listed;
        assert!(super::super::plan::left_new(&plan(&listed)).is_empty());
        let planned = plan(&Config::default());
        assert!(planned[2].adopts());
        let refused = super::super::plan::check_expected(&planned, Some(2));
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains(", and 1 address(es) of new hosts left duplicates (10.0.0.5)"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn a_new_machine_at_several_addresses_is_adopted_once_at_its_lowest() {
        let table = "
            3 2 A new      # two network cards: one host key, two MACs
            2 3 A new
            9 4 B new      # one MAC at many addresses (proxy ARP)
            7 4 B new
            8 4 B new
            5 5 E new";
        let classes = "duplicate new duplicate new duplicate new";
        let notes = [
            (
                0,
                "the same machine (host key SHA256:A) answers at 10.0.0.2: adopted there only",
            ),
            (2, "answers at 10.0.0.7: adopted there only"),
            (4, "answers at 10.0.0.7: adopted there only"),
        ];
        assert_sorted(found(table), &[], classes, &notes);
    }

    /// A host with the public temporary key that answers ARP for a wide
    /// subnet, a MAC each, and logs in at as many addresses as setup tries:
    /// one new machine, adopted once. Each new machine's MAC was once
    /// looked for again for every address of its machine (logins² ·
    /// hosts steps, hours here); the watchdog is far above the time taken.
    #[test]
    fn a_host_logging_in_at_a_thousand_addresses_of_a_wide_subnet_is_judged_at_once() {
        const HOSTS: u32 = 16_384;
        const LOGINS: u32 = 1_024;
        let (done, judged) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found: Vec<Candidate> = (0..HOSTS)
                .map(|n| {
                    let ip = Ipv4Addr::from(0x0a00_0000 + 1 + n);
                    let [_, _, a, b] = n.to_be_bytes();
                    let mut c = Candidate::at(ip, Some(Mac([2, 0, 0, 0, a, b])));
                    if n < LOGINS {
                        c.class = Class::New;
                        c.host_key = Fingerprint::parse("SHA256:ONE");
                    }
                    c
                })
                .collect();
            one_address_each(&mut found, &[]);
            let _ = done.send(found);
        });
        let found = judged
            .recv_timeout(Duration::from_secs(120))
            .expect("judged in two minutes (it takes about a second)");
        let new: Vec<Ipv4Addr> = found
            .iter()
            .filter(|c| c.class == Class::New)
            .map(|c| c.ip)
            .collect();
        assert_eq!(new, [Ipv4Addr::new(10, 0, 0, 1)]);
        let last = &found[LOGINS as usize - 1];
        assert_eq!(last.class, Class::Duplicate);
        assert!(
            last.note
                .as_deref()
                .unwrap_or_default()
                .contains("answers at 10.0.0.1: adopted there only"),
            "{:?}",
            last.note
        );
    }

    #[test]
    fn a_cloned_mac_or_a_key_that_is_no_new_host_elsewhere_is_adopted_nowhere() {
        let table = "
            4 4 B new      # two host keys behind one MAC (a cloned one)
            5 4 C foreign
            6 6 D new      # its key is a foreign host's too
            7 7 D refused
            2 2 F new      # one machine, one of whose MACs is cloned
            3 3 F new
            9 3 G new
            8 8 E new";
        let classes = "duplicate foreign duplicate refused duplicate duplicate duplicate new";
        let notes = [
            (0, "at 10.0.0.5 too"),
            // Another machine with its host key: a MAC of its own is no cure.
            (2, "at 10.0.0.7 too"),
            (2, "give each machine its own MAC and its own host keys"),
            (4, "at 10.0.0.3 too"),
        ];
        assert_sorted(found(table), &[], classes, &notes);
    }

    #[test]
    fn a_node_is_kept_at_its_own_address_and_its_mac_elsewhere_is_no_reinstall() {
        let table = "
            2 9 A adopted 9   # recorded at .9, answers at .2 and .3 too
            9 9 A adopted
            3 9 A adopted 9
            5 4 C host-key-mismatch   # another machine with a node's MAC
            4 4 B adopted
            6 6 D host-key-mismatch   # no node answers elsewhere
            7 7 B unpinned            # the node's second network card
            8 8 H unpinned            # a host that learnt the cluster key";
        let classes =
            "duplicate adopted duplicate duplicate adopted host-key-mismatch duplicate unpinned";
        let notes = [
            (0, "node at 10.0.0.9"),
            (3, "MAC is that of the node at 10.0.0.4"),
            (
                6,
                "the node at 10.0.0.4 (host key SHA256:B) answers here too: kept there only",
            ),
        ];
        assert_sorted(found(table), &[], classes, &notes);
    }

    #[test]
    fn another_machine_where_a_node_was_is_told_that_node_moved_and_where() {
        let mut found = found(
            "
            9 9 X host-key-mismatch   # at A's recorded address, with A's MAC
            3 3 A adopted 9k          # A followed to its other card
            8 5 Y host-key-mismatch   # at B's recorded address, another MAC
            6 4 B adopted 8           # B's MAC moved it
            7 6 Z host-key-mismatch   # C's MAC, which C moved with: a copy
            2 6 C adopted 1
            5 8 W host-key-mismatch   # at D's recorded address; D is gone",
        );
        let known = [
            record(9, 9, "A"),
            record(8, 4, "B"),
            record(1, 6, "C"),
            record(5, 7, "D"),
        ];
        one_address_each(&mut found, &known);
        moved_away(&mut found, &known);
        let note = |i: usize| found[i].note.clone().unwrap_or_default();
        assert!(
            note(0).starts_with(
                "the node node-a moved from 10.0.0.9 to 10.0.0.3, where its pinned host key \
                 SHA256:A answers (setup follows it there); another machine answers here under \
                 the MAC it had, with host key SHA256:X: not logging in, left alone"
            ),
            "{}",
            note(0)
        );
        assert!(
            note(2).starts_with("the node node-b moved from 10.0.0.8 to 10.0.0.6")
                && note(2).contains("another machine answers here, with host key SHA256:Y"),
            "{}",
            note(2)
        );
        assert!(
            note(4).contains("MAC is that of the node at 10.0.0.2"),
            "{}",
            note(4)
        );
        assert_eq!(found[6].note, None);
        let classes: Vec<&str> = found.iter().map(|c| c.class.as_str()).collect();
        assert_eq!(
            classes.join(" "),
            "host-key-mismatch adopted host-key-mismatch adopted duplicate adopted \
             host-key-mismatch"
        );
    }

    #[test]
    fn a_node_moved_by_its_host_key_alone_is_kept_only_where_nothing_else_finds_it() {
        // MOVED-FROM with `k`: moved there by its host key alone.
        let table = "
            3 3 A adopted 9k   # A left .9: its other card answers at .3 and .2
            2 2 A adopted 9k
            5 5 B adopted 4k   # B answers at its recorded .4: never moved
            4 4 B adopted
            7 7 C adopted 6k   # C's MAC moved it to .8: that wins over .7
            8 6 C adopted 6
            12 1 D adopted 11k # D refuses the cluster key at its recorded .11
            11 8 D refused
            15 0 E adopted 13k # E refuses it where its MAC moved it
            16 9 E refused 13";
        let classes = "duplicate adopted duplicate adopted duplicate adopted \
                       duplicate refused duplicate refused";
        let notes = [
            (
                0,
                "the node at 10.0.0.2 (host key SHA256:A) answers here too: kept there only",
            ),
            (2, "the node at 10.0.0.4 "),
            (4, "the node at 10.0.0.8 "),
            (6, "the node at 10.0.0.11 "),
            (8, "the node at 10.0.0.16 "),
        ];
        let sorted = assert_sorted(found(table), &[], classes, &notes);
        // Of the machines kept, only A, which neither its recorded
        // address nor its MAC finds, keeps the move its host key alone
        // made.
        let by_key: Vec<Ipv4Addr> = sorted
            .iter()
            .filter(|c| c.class != Class::Duplicate && c.moved_by_key)
            .map(|c| c.ip)
            .collect();
        assert_eq!(by_key, [Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn copies_of_one_card_are_told_apart_by_their_boot_ids_and_adopted_nowhere() {
        let table = "
            3 3 A new b1 own   # a card copied to three machines: three boots
            2 2 A new b2 own
            4 4 A new b3 own
            6 6 B new b4 own   # one machine, two cards: one boot
            5 5 B new b4 own
            8 8 C new b5 own   # an older system that tells no boot_id:
            7 7 C new          # copies or cards, today's rule
            9 9 D new b6 own   # one copy on two cards, another on one
            10 1 D new b6 own
            11 0 D new b7 own";
        let classes = "duplicate duplicate duplicate duplicate new duplicate new \
                       duplicate duplicate duplicate";
        let notes = [
            (
                0,
                "its host key SHA256:A answers at 10.0.0.2, 10.0.0.4 too, on another running \
                 machine (another boot_id): copies of one card; adopted at none (give it its \
                 own host keys",
            ),
            (
                1,
                "answers at 10.0.0.3, 10.0.0.4 too, on another running machine",
            ),
            (2, "answers at 10.0.0.2, 10.0.0.3 too"),
            (
                3,
                "the same machine (host key SHA256:B, one boot_id) answers at 10.0.0.5: \
                 adopted there only",
            ),
            (
                5,
                "answers at 10.0.0.7: adopted there only (it did not tell its boot_id: if \
                 this is another machine, a copy of that one's card, give it its own host keys",
            ),
            (
                7,
                "answers at 10.0.0.10, 10.0.0.11 too, on another running machine",
            ),
            (9, "copies of one card"),
        ];
        assert_sorted(found(table), &[], classes, &notes);
        // The one-machine note says no more than it knows.
        let mut one = found(table);
        one_address_each(&mut one, &[]);
        assert!(!one[3].note.as_deref().unwrap_or_default().contains("copy"));
        // A node, and a copy of its card made after it was adopted (its
        // cluster key too): the node is kept, the copy is named one.
        let table = "
            5 8 G adopted b8 own
            6 7 G adopted b9 own   # the copy
            7 6 G adopted b8 own   # the node's other card";
        let notes = [
            (
                1,
                "its host key SHA256:G is that of the node at 10.0.0.5, which answers there \
                 from another running machine (another boot_id): a copy of its card; left \
                 alone (give it its own host keys",
            ),
            (
                2,
                "the node at 10.0.0.5 (host key SHA256:G) answers here too",
            ),
        ];
        assert_sorted(
            found(table),
            &[record(5, 8, "G")],
            "adopted duplicate duplicate",
            &notes,
        );
    }

    #[test]
    fn of_two_machines_with_a_node_s_host_key_the_node_is_the_one_with_its_recorded_mac() {
        // G, recorded at .5 with MAC 8, was off while a copy of its card
        // took .5 (a pin there matches: not moved); G came back at .6.
        let table = "
            5 7 G adopted b9 own
            6 8 G adopted 5 b8 own";
        let notes = [(
            0,
            "its host key SHA256:G is that of the node at 10.0.0.6, which answers there from \
             another running machine (another boot_id): a copy of its card; left alone (give \
             it its own host keys",
        )];
        let sorted = assert_sorted(
            found(table),
            &[record(5, 8, "G")],
            "duplicate adopted",
            &notes,
        );
        assert_eq!(sorted[1].note, None);
        assert_eq!(sorted[1].moved_from, "10.0.0.5".parse().ok());
        // Neither has the MAC it was recorded with, or both (a cloned MAC
        // too), or the inventory has none: no machine is kept, followed or
        // told to remove its host keys, so no node loses its own.
        let table = "
            2 1 H adopted 3k b1 own   # H recorded at .3 with MAC 3
            4 2 H adopted 3k b2 own
            7 7 J adopted b3 own      # J recorded at .7 with MAC 7
            8 7 J adopted 7 b4 own
            9 6 K adopted b5 own      # K: pinned, in no record
            10 6 K adopted b6 own
            11 5 L adopted own        # L, recorded here, tells no boot_id
            12 4 L adopted 11k b7 own
            13 0 L adopted 11k b8 own";
        let known = [record(3, 3, "H"), record(7, 7, "J"), record(11, 5, "L")];
        let undecided = "so setup cannot tell which one is the node; kept and followed at \
                         none this run";
        let notes = [
            (
                0,
                "its host key SHA256:H, the node node-h's, answers at 10.0.0.4 too, from \
                 another running machine (another boot_id), and none of them has the MAC it \
                 was recorded with (02:00:00:00:00:03)",
            ),
            (0, undecided),
            (1, "answers at 10.0.0.2 too"),
            (1, undecided),
            (2, "answers at 10.0.0.8 too"),
            (2, "and 2 of them have the MAC it was recorded with"),
            (3, undecided),
            (4, "the inventory has no MAC for it"),
            (5, undecided),
            (6, "answers at 10.0.0.12, 10.0.0.13 too"),
            (
                7,
                "the one with the MAC it was recorded with (02:00:00:00:00:05) told no boot_id",
            ),
            (8, undecided),
        ];
        let sorted = assert_sorted(
            found(table),
            &known,
            "duplicate duplicate duplicate duplicate duplicate duplicate duplicate duplicate \
             duplicate",
            &notes,
        );
        for c in &sorted {
            let note = c.note.as_deref().unwrap_or_default();
            assert!(!note.contains("rm /etc/ssh"), "{}: {note}", c.ip);
        }
    }

    #[test]
    fn a_node_s_old_mac_elsewhere_is_no_move_where_the_node_answers_as_recorded() {
        // B answers at its recorded .8 through a new card (MAC 5); its
        // old card (MAC 4) is in another machine, at .20.
        let mut found = found(
            "
            20 4 X host-key-mismatch
            8 5 B adopted b1 own",
        );
        let known = [record(8, 4, "B")];
        one_address_each(&mut found, &known);
        moved_away(&mut found, &known);
        let note = found[0].note.clone().unwrap_or_default();
        assert!(!note.contains("moved from"), "{note}");
        assert!(
            note.starts_with(
                "its MAC is the one the node node-b had, which answers at 10.0.0.8, where it \
                 was recorded, with its pinned host key SHA256:B (now under MAC \
                 02:00:00:00:00:05): another machine with that MAC, host key SHA256:X; left alone"
            ),
            "{note}"
        );
        // A host with a node's MAC next to a relayed address of the node
        // is not told the node answers at the relay.
        let mut found = found_relayed();
        one_address_each(&mut found, &[]);
        assert_eq!(found[0].note, None);
    }

    /// A host-key mismatch whose MAC a relay that shows a node's host key
    /// answers under too.
    fn found_relayed() -> Vec<Candidate> {
        found(
            "
            5 4 X host-key-mismatch
            4 4 B adopted b1 relay",
        )
    }

    #[test]
    fn a_relayed_address_is_never_where_a_machine_is_adopted_kept_or_followed() {
        let table = "
            2 2 A new b1 relay   # a relay at a lower address forwards A's SSH port
            5 5 A new b1 own
            3 3 B new b2 relay   # B answers only through a relay
            4 4 C adopted 9k b3 relay  # a node followed by key to a relay: not followed
            6 6 D adopted 8k b4 relay  # D's recorded .8 is down, its other card at .7
            7 7 D adopted 8k b4 own
            11 1 E adopted b5 relay    # a relay took E's recorded address
            12 0 E adopted 13 b5 own   # E moved by its MAC to .12
            14 9 F new b6              # an older system: today's rule";
        let classes = "duplicate new duplicate duplicate duplicate adopted duplicate adopted new";
        let notes = [
            (
                0,
                "this address is not one of its own (host key SHA256:A, -): another host \
                 forwards its SSH port to it here, a relay or a NAT; never adopted, pinned or \
                 followed here: it answers as itself at 10.0.0.5",
            ),
            (2, "it answers at no address of its own that setup found"),
            (3, "never adopted, pinned or followed here"),
            (4, "it answers as itself at 10.0.0.7"),
            (6, "it answers as itself at 10.0.0.12"),
        ];
        let mut sorted = found(table);
        one_address_each(&mut sorted, &[]);
        for i in [3, 4] {
            assert_eq!(
                (sorted[i].moved_from, sorted[i].moved_by_key),
                (None, false)
            );
        }
        assert_eq!(
            sorted[5].moved_from,
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 8)))
        );
        assert_sorted(found(table), &[], classes, &notes);
    }

    #[test]
    fn a_note_names_three_addresses_and_counts_the_rest() {
        let ips: Vec<Ipv4Addr> = (1..=5).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        assert_eq!(named(&ips[..2]), "10.0.0.1, 10.0.0.2");
        assert_eq!(named(&ips), "10.0.0.1, 10.0.0.2, 10.0.0.3 and 2 more");
    }

    fn facts_with_macs(macs: &[&str]) -> Facts {
        let lines: String = macs.iter().map(|m| format!("mac {m}\n")).collect();
        Facts::parse(format!("n1\nx86_64\n{lines}").as_bytes()).unwrap()
    }

    /// A forged ARP answer for a node's address: its MAC is trusted only
    /// if the node lists it as its own; of two that answered, the one it
    /// lists is its.
    #[test]
    fn the_mac_arp_answered_with_is_trusted_only_where_the_node_lists_it() {
        let mac = |s: &str| s.parse::<Mac>().unwrap();
        let (real, forged) = (mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"));
        let facts = facts_with_macs(&["02:00:00:00:00:01", "02:00:00:00:00:09"]);
        let ip: Ipv4Addr = "10.0.0.1".parse().unwrap();
        // One MAC heard, the node's own: kept.
        let mut c = Candidate::at(ip, Some(real));
        let mut doubt = MacDoubt::default();
        trust_mac(&mut c, &[real], &facts, &mut doubt);
        assert_eq!((c.mac, doubt.disproved), (Some(real), false));
        // One MAC heard, another machine's: unknown, and disproved.
        let mut c = Candidate::at(ip, Some(forged));
        let mut doubt = MacDoubt::default();
        trust_mac(&mut c, &[forged], &facts, &mut doubt);
        assert_eq!((c.mac, doubt.disproved), (None, true));
        let note = mac_note(ip, &[forged], doubt.own.as_deref());
        assert!(
            note.contains("10.0.0.1") && note.contains("02:00:00:00:00:02"),
            "{note}"
        );
        assert!(
            note.contains("02:00:00:00:00:01, 02:00:00:00:00:09"),
            "{note}"
        );
        // Two heard (a conflict), either first: the node's own is its.
        for heard in [[forged, real], [real, forged]] {
            let mut c = Candidate::at(ip, None);
            let mut doubt = MacDoubt::default();
            trust_mac(&mut c, &heard, &facts, &mut doubt);
            assert_eq!((c.mac, doubt.disproved), (Some(real), false));
        }
        // Two cards of one machine on the LAN, both answering (ARP flux):
        // the first heard, as with one card, not unknown.
        let both = facts_with_macs(&["02:00:00:00:00:01", "02:00:00:00:00:02"]);
        for heard in [[forged, real], [real, forged]] {
            let mut c = Candidate::at(ip, None);
            let mut doubt = MacDoubt::default();
            trust_mac(&mut c, &heard, &both, &mut doubt);
            assert_eq!((c.mac, doubt.disproved), (Some(heard[0]), false));
        }
        // An older node that lists none: as heard (a conflict stays unknown).
        let old = Facts::parse(b"n1\nx86_64\n").unwrap();
        let mut c = Candidate::at(ip, Some(forged));
        let mut doubt = MacDoubt::default();
        trust_mac(&mut c, &[forged], &old, &mut doubt);
        assert_eq!((c.mac, doubt.disproved), (Some(forged), false));
        let note = mac_note(ip, &[real, forged], None);
        assert!(
            note.contains("02:00:00:00:00:01, 02:00:00:00:00:02"),
            "{note}"
        );
    }

    /// Review F8: with a filter of digits (the config allows one), a host
    /// that names itself after an address (another node's) is named like
    /// no node: an address is no hostname (RFC 1123 2.1).
    #[test]
    fn a_name_that_is_an_address_is_no_node_s() {
        let config = Config::with_filter("10");
        assert!(named_ours(Some("node-10"), &config, None));
        assert!(!named_ours(Some("10.0.0.7"), &config, None));
        assert!(!named_ours(Some("10.0.0.10"), &config, None));
    }

    /// A node renamed to the name `nodes:` pins to its MAC (no filter in
    /// it) and left unrotated was foreign to every later run: never
    /// adopted, the temporary key left on it.
    #[test]
    fn a_host_named_as_its_mac_is_pinned_is_named_like_a_node() {
        let mac: Mac = "02:00:00:00:00:07".parse().unwrap();
        let other: Mac = "02:00:00:00:00:08".parse().unwrap();
        let mut config = Config::default();
        config.nodes.push(crate::config::NodePin {
            mac,
            hostname: Some("pi-kitchen".into()),
            role: None,
            manager: None,
        });
        assert!(named_ours(Some("pi-kitchen"), &config, Some(mac)));
        assert!(named_ours(Some("Pi-Kitchen"), &config, Some(mac)));
        assert!(named_ours(
            Some("ReCyClusteR-Target-1"),
            &config,
            Some(other)
        ));
        // The pinned name at another MAC, or at a MAC not trusted, is no node's.
        assert!(!named_ours(Some("pi-kitchen"), &config, Some(other)));
        assert!(!named_ours(Some("pi-kitchen"), &config, None));
        assert!(!named_ours(Some("pi-garage"), &config, Some(mac)));
        assert!(!named_ours(None, &config, Some(mac)));
    }
}
