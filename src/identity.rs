//! What a node is: the one vocabulary config, init, scan, setup, state and
//! swarm share.
//!
//! - [`Role`]: control or target.
//! - [`Mac`]: six bytes (the wire module's Ethernet address), parsed from
//!   `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
//! - The hostname rule, [`check_hostname`]: one RFC 1123 label. A DNS name
//!   ([`is_dns_name`]) is labels that each follow it.
//! - [`IMAGE_DEFAULT_NAMES`] and [`generated_name`]: the names images ship
//!   with, and the unique one a node gets instead.
//! - [`Arch`]: the machine architectures RCCR builds for, by the names
//!   `uname -m` prints.
//!
//! Everything here parses text that may come from a stranger (a DHCP
//! lease, a node's `hostname`), so every constructor checks, and nothing
//! here allocates more than its input.
use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

pub use crate::wire::ethernet::Address as Mac;
use crate::wire::ipv4::Cidr;

/// The word every RCCR hostname carries, and `rccr-scan`'s default filter.
pub const NAME_PREFIX: &str = "ReCyClusteR";

/// What a node is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Runs `rccr setup`; holds the cluster key.
    Control,
    /// Runs the containers.
    Target,
}

impl Role {
    /// `control` or `target`: the inventory's and the config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Control => "control",
            Role::Target => "target",
        }
    }

    /// `Control` or `Target`: the word in generated hostnames.
    pub fn word(self) -> &'static str {
        match self {
            Role::Control => "Control",
            Role::Target => "Target",
        }
    }

    /// The first line of `/etc/rccr/node-type` that is not blank or a `#`
    /// comment, in any case.
    pub fn from_node_type_file(text: &str) -> Option<Role> {
        let word = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))?;
        word.to_ascii_lowercase().parse().ok()
    }
}

impl FromStr for Role {
    type Err = ();

    /// `control` or `target`, exactly.
    fn from_str(s: &str) -> Result<Role, ()> {
        match s {
            "control" => Ok(Role::Control),
            "target" => Ok(Role::Target),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mac {
    type Err = ();

    /// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`, either case.
    fn from_str(s: &str) -> Result<Mac, ()> {
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut bytes = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut bytes {
            let part = parts.next().ok_or(())?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        match parts.next() {
            None => Ok(Mac(bytes)),
            Some(_) => Err(()),
        }
    }
}

/// The longest label (RFC 1035): a hostname is one.
pub use crate::wire::dns::MAX_LABEL_LEN;
/// The longest DNS name in text form: the wire form, less its first
/// length byte and its final zero.
pub const MAX_DNS_NAME_LEN: usize = crate::wire::dns::MAX_NAME_LEN - 2;

/// Why a name is not a hostname, worded to follow the name in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostnameError {
    Empty,
    TooLong,
    BadChar(char),
    EdgeHyphen,
}

impl fmt::Display for HostnameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostnameError::Empty => f.write_str("is empty"),
            HostnameError::TooLong => write!(f, "is longer than {MAX_LABEL_LEN} characters"),
            HostnameError::BadChar(c) => {
                write!(f, "contains {c:?}; use letters, digits and hyphens")
            }
            HostnameError::EdgeHyphen => f.write_str("starts or ends with a hyphen"),
        }
    }
}

/// The hostname rule, the one every part of rccr applies: one RFC 1123
/// label, 1 to 63 ASCII letters, digits and hyphens, neither first nor last
/// a hyphen. Single label: the domain comes from DHCP.
pub fn check_hostname(name: &str) -> Result<(), HostnameError> {
    if name.is_empty() {
        return Err(HostnameError::Empty);
    }
    if name.len() > MAX_LABEL_LEN {
        return Err(HostnameError::TooLong);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        return Err(HostnameError::BadChar(c));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(HostnameError::EdgeHyphen);
    }
    Ok(())
}

pub fn is_hostname(name: &str) -> bool {
    check_hostname(name).is_ok()
}

/// A name DNS may give (`node-1.lan`): labels that each follow the
/// hostname rule, 253 bytes in all.
pub fn is_dns_name(name: &str) -> bool {
    check_dns_name(name).is_ok()
}

/// The DNS-name rule: labels that each follow [`check_hostname`], joined
/// by dots, 253 bytes in all. A label's error names the label's fault.
pub fn check_dns_name(name: &str) -> Result<(), HostnameError> {
    if name.len() > MAX_DNS_NAME_LEN {
        return Err(HostnameError::TooLong);
    }
    name.split('.').try_for_each(check_hostname)
}

/// A node's name as rccr keeps it: a valid DNS name (one label, as nodes
/// name themselves, or dotted, as reverse DNS answers). Nothing else can be
/// held, so no separator, space, control byte or shell metacharacter ever
/// reaches a file, a table or a command line from a name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hostname(String);

checked_string!(Hostname);

impl Hostname {
    /// `name` if it follows [`check_dns_name`].
    pub fn parse(name: &str) -> Result<Hostname, HostnameError> {
        check_dns_name(name).map(|()| Hostname(name.to_string()))
    }
}

impl FromStr for Hostname {
    type Err = HostnameError;

    fn from_str(s: &str) -> Result<Hostname, HostnameError> {
        Hostname::parse(s)
    }
}

impl AsRef<str> for Hostname {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Hostname> for String {
    fn from(name: Hostname) -> String {
        name.0
    }
}

impl PartialEq<str> for Hostname {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Hostname {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Literal names in unit tests (`"t1".into()`); a bad literal panics.
#[cfg(test)]
impl From<&str> for Hostname {
    fn from(name: &str) -> Hostname {
        Hostname::parse(name).unwrap_or_else(|e| panic!("{name:?} {e}"))
    }
}

/// Whether `name` is a valid DNS name that contains `filter`, ignoring
/// ASCII case: how a host claims to be one of ours.
pub fn name_matches(name: &str, filter: &str) -> bool {
    if !is_dns_name(name) {
        return false;
    }
    let (name, filter) = (name.as_bytes(), filter.as_bytes());
    filter.is_empty()
        || name
            .windows(filter.len())
            .any(|w| w.eq_ignore_ascii_case(filter))
}

/// The hostname the control image ships with.
pub const IMAGE_CONTROL_NAME: &str = "ReCyClusteR-Control";
/// The hostname the target image ships with.
pub const IMAGE_TARGET_NAME: &str = "ReCyClusteR-Target";

/// Names that images and kernels use by default: a node carrying one has
/// no name of its own yet.
pub const IMAGE_DEFAULT_NAMES: &[&str] = &[
    "",
    "localhost",
    "localhost.localdomain",
    "(none)",
    IMAGE_CONTROL_NAME,
    IMAGE_TARGET_NAME,
];

pub fn is_image_default(name: &str) -> bool {
    IMAGE_DEFAULT_NAMES
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name))
}

/// `PREFIX-Target-3f2a1c`: the prefix (the discovery filter, by default
/// [`NAME_PREFIX`]), the role, and three bytes that keep it unique and
/// stable (the end of the node's MAC address) in lowercase hex.
pub fn generated_name(prefix: &str, role: Role, tail: [u8; 3]) -> String {
    format!(
        "{prefix}-{}-{:02x}{:02x}{:02x}",
        role.word(),
        tail[0],
        tail[1],
        tail[2]
    )
}

/// The last three bytes of a MAC: the tail of a generated name.
pub fn mac_tail(mac: Mac) -> [u8; 3] {
    [mac.0[3], mac.0[4], mac.0[5]]
}

/// A machine architecture RCCR builds for, as `uname -m` names it (the
/// spelling the inventory, the swarm's `rccr.arch` label and a config's
/// `placement.arch` use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    I686,
    I386,
    Aarch64,
    Armv7l,
    Armv6l,
}

impl Arch {
    pub const ALL: [Arch; 6] = [
        Arch::X86_64,
        Arch::Aarch64,
        Arch::Armv7l,
        Arch::Armv6l,
        Arch::I686,
        Arch::I386,
    ];

    /// What `uname -m` prints.
    pub fn uname(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I686 => "i686",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7l => "armv7l",
            Arch::Armv6l => "armv6l",
        }
    }

    /// The release's name for the binary and image (`rccr-x86`, ...).
    pub fn release_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I686 | Arch::I386 => "x86",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7l => "armv7",
            Arch::Armv6l => "armhf",
        }
    }

    /// The container platforms a node of this architecture runs, as
    /// Docker names them (`os/architecture[/variant]`).
    pub fn platforms(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["linux/amd64", "linux/386"],
            Arch::I686 | Arch::I386 => &["linux/386"],
            Arch::Aarch64 => &["linux/arm64", "linux/arm64/v8"],
            Arch::Armv7l => &["linux/arm/v7", "linux/arm", "linux/arm/v6"],
            Arch::Armv6l => &["linux/arm/v6"],
        }
    }

    /// Whether the architecture is 64-bit.
    pub fn is_64_bit(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::Aarch64)
    }
}

impl FromStr for Arch {
    type Err = ();

    /// One of the `uname -m` spellings of [`Arch::ALL`], exactly.
    fn from_str(s: &str) -> Result<Arch, ()> {
        Arch::ALL.into_iter().find(|a| a.uname() == s).ok_or(())
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uname())
    }
}

/// The command that asks a node for its facts: fixed text, nothing
/// interpolated. Its output is parsed by [`Facts::parse`]: the name, the
/// architecture, then (where the node has them: Alpine's busybox and
/// Debian alike) its kernel's boot_id, which tells one running machine
/// from another, and the IPv4 blocks its kernel takes as its own (the
/// `LOCAL` routes of `/proc/net/fib_trie`: its addresses, and any block
/// routed to itself), which tell its own addresses from a relay's; then
/// the Ethernet MACs of its interfaces (`/sys/class/net/*/address`;
/// containers' veths left out, each MAC once, no zero MAC, at most
/// [`MAX_MACS`] + 1 lines, so a node with many interfaces says it has too
/// many rather than cutting its list short), which tell its own MAC from one another
/// host answered ARP with for its address.
pub const FACTS_COMMAND: &str = "hostname; uname -m || exit; \
     b=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) && echo \"boot $b\"; \
     awk '/\\|--/ { a = $2 } / host LOCAL/ { print \"local \" a $1 }' \
     /proc/net/fib_trie 2>/dev/null; \
     for f in /sys/class/net/*/address; do case $f in */veth*) continue;; esac; \
     read -r m < \"$f\" 2>/dev/null || continue; \
     case $m in 00:00:00:00:00:00) ;; ??:??:??:??:??:??) echo \"mac $m\";; esac; \
     done 2>/dev/null | awk '!s[$0]++' | head -n 65; \
     exit 0";
/// The most a node may answer [`FACTS_COMMAND`] with: its lines fit many
/// times over, and a node that sends more is not telling facts.
pub const MAX_FACTS_LEN: usize = 64 * 1024;
/// The longest `uname -m` word rccr reads (Linux's field holds 64 bytes).
const MAX_ARCH_LEN: usize = 64;
/// The most distinct local blocks rccr keeps of a node: a machine with
/// more is taken as one that did not tell them (see [`Facts::owns`]).
pub const MAX_LOCAL_BLOCKS: usize = 64;
/// The most distinct MACs rccr keeps of a node: a machine with more is
/// taken as one that did not tell them (see [`Facts::has_mac`]).
pub const MAX_MACS: usize = 64;

/// A kernel's boot_id (`/proc/sys/kernel/random/boot_id`): a random UUID
/// each boot, so two machines, copies of one card included, never share
/// one, and every address of one running machine tells the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BootId([u8; 16]);

/// Where a UUID's text has its hyphens.
const UUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];

impl FromStr for BootId {
    type Err = ();

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex, as the
    /// kernel prints it, exactly.
    fn from_str(s: &str) -> Result<BootId, ()> {
        let b = s.as_bytes();
        if b.len() != 36 || UUID_HYPHENS.iter().any(|&i| b[i] != b'-') {
            return Err(());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(()),
        };
        let mut digits = (0..36).filter(|i| !UUID_HYPHENS.contains(i)).map(|i| b[i]);
        let mut bytes = [0u8; 16];
        for byte in &mut bytes {
            let (Some(hi), Some(lo)) = (digits.next(), digits.next()) else {
                return Err(());
            };
            *byte = nibble(hi)? << 4 | nibble(lo)?;
        }
        Ok(BootId(bytes))
    }
}

impl fmt::Display for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if [4, 6, 8, 10].contains(&i) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// What a node says it is, parsed: which running machine it is (its
/// boot_id; `None` for a node that did not tell it), its name and its
/// architecture (`None` for a well-formed `uname -m` word rccr does not
/// build for), and its interfaces: the IPv4 blocks its kernel takes as
/// its own and its MACs (empty for a node that did not tell them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub boot: Option<BootId>,
    pub hostname: Hostname,
    pub arch: Option<Arch>,
    /// Distinct, in the order told; empty when none were told, or more
    /// than [`MAX_LOCAL_BLOCKS`].
    pub local: Vec<Cidr>,
    /// The MACs of its interfaces but all-zero ones (loopback), distinct,
    /// in the order told; empty when none were told, or more than
    /// [`MAX_MACS`].
    pub macs: Vec<Mac>,
}

/// Why a node's answer is not facts, worded to follow "bad facts: ".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FactsError {
    NotText,
    Lines(usize),
    Hostname(HostnameError),
    Arch,
    /// This line (from 1) is neither `boot UUID` (the third, once) nor
    /// `local A.B.C.D/N` nor `mac xx:xx:xx:xx:xx:xx`.
    Line(usize),
}

impl fmt::Display for FactsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactsError::NotText => f.write_str("the answer is not UTF-8 text"),
            FactsError::Lines(n) => write!(f, "{n} lines where hostname and uname -m give 2"),
            FactsError::Hostname(e) => write!(f, "the hostname {e}"),
            FactsError::Arch => f.write_str("uname -m is not one word of letters, digits and _"),
            FactsError::Line(n) => write!(
                f,
                "line {n} is neither the boot_id (boot UUID) nor a local block (local A.B.C.D/N) \
                 nor a MAC (mac xx:xx:xx:xx:xx:xx)"
            ),
        }
    }
}

impl Facts {
    /// The output of [`FACTS_COMMAND`]: a hostname that follows
    /// [`check_dns_name`], a `uname -m` word, then at most one `boot UUID`
    /// line and any number of `local A.B.C.D/N` lines (host bits clear)
    /// and `mac xx:xx:xx:xx:xx:xx` lines (lowercase, as the kernel writes
    /// it), in that order, each line ending in a newline (the last one's
    /// optional). Anything else, a blank line included, is refused: the
    /// node is not telling facts. A node that tells none of them (an older
    /// system) is parsed as one whose boot_id, addresses and MACs are
    /// unknown.
    pub fn parse(output: &[u8]) -> Result<Facts, FactsError> {
        let text = core::str::from_utf8(output).map_err(|_| FactsError::NotText)?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = text.split('\n');
        let (Some(name), Some(arch)) = (lines.next(), lines.next()) else {
            return Err(FactsError::Lines(1));
        };
        let hostname = Hostname::parse(name).map_err(FactsError::Hostname)?;
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if arch.is_empty() || arch.len() > MAX_ARCH_LEN || !arch.chars().all(word) {
            return Err(FactsError::Arch);
        }
        let mut facts = Facts {
            boot: None,
            hostname,
            arch: arch.parse().ok(),
            local: Vec::new(),
            macs: Vec::new(),
        };
        let mut too_many = false;
        let mut too_many_macs = false;
        for (i, line) in lines.enumerate() {
            let bad = FactsError::Line(i + 3);
            match line.split_once(' ') {
                Some(("boot", id)) if i == 0 => facts.boot = Some(id.parse().map_err(|_| bad)?),
                Some(("local", text)) if text.contains('/') => {
                    // As the kernel writes it: `A.B.C.D/N`, no leading zero.
                    let block = Cidr::parse(text).map_err(|_| bad.clone())?;
                    if block.to_string() != text {
                        return Err(bad);
                    }
                    if !too_many && !facts.local.contains(&block) {
                        too_many = facts.local.len() == MAX_LOCAL_BLOCKS;
                        facts.local.push(block);
                    }
                }
                Some(("mac", text)) => {
                    let mac: Mac = text.parse().map_err(|_| bad.clone())?;
                    if mac.to_string() != text {
                        return Err(bad);
                    }
                    if mac.0 != [0; 6] && !too_many_macs && !facts.macs.contains(&mac) {
                        too_many_macs = facts.macs.len() == MAX_MACS;
                        facts.macs.push(mac);
                    }
                }
                _ => return Err(bad),
            }
        }
        if too_many {
            facts.local = Vec::new();
        }
        if too_many_macs {
            facts.macs = Vec::new();
        }
        Ok(facts)
    }

    /// Whether `ip` is an address this machine's kernel takes as its own:
    /// `None` when it told no local blocks (an older system, or more than
    /// [`MAX_LOCAL_BLOCKS`]). `Some(false)` is an address another host
    /// forwards to it (a relay, a NAT).
    pub fn owns(&self, ip: Ipv4Addr) -> Option<bool> {
        (!self.local.is_empty()).then(|| self.local.iter().any(|b| b.contains(ip)))
    }

    /// Whether `mac` is one of this machine's own interfaces': `None` when
    /// it told no MACs (an older system, or more than [`MAX_MACS`]).
    /// `Some(false)`: the MAC that answered ARP for its address is another
    /// machine's.
    pub fn has_mac(&self, mac: Mac) -> Option<bool> {
        (!self.macs.is_empty()).then(|| self.macs.contains(&mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_print() {
        assert_eq!("control".parse(), Ok(Role::Control));
        assert_eq!("target".parse(), Ok(Role::Target));
        assert!("Target".parse::<Role>().is_err());
        assert_eq!(Role::Target.to_string(), "target");
        assert_eq!(
            Role::from_node_type_file("# image\n\n  CONTROL \n"),
            Some(Role::Control)
        );
        assert_eq!(Role::from_node_type_file("worker\n"), None);
        assert_eq!(Role::from_node_type_file(""), None);
    }

    #[test]
    fn macs_in_both_forms() {
        let mac: Mac = "02:52:43:3F:2a:1c".parse().unwrap();
        assert_eq!(mac.to_string(), "02:52:43:3f:2a:1c");
        assert_eq!("02-52-43-3f-2a-1c".parse::<Mac>(), Ok(mac));
        for bad in [
            "",
            "-",
            "02:52:43:3f:2a",
            "02:52:43:3f:2a:1c:00",
            "02:52:43:3f:2a:1",
            "02:52:43:3f:2a:+1",
            "02-52:43-3f-2a-1c",
            "g2:52:43:3f:2a:1c",
            "02:52:43:3f:2a:1c:",
            "2:52:43:3f:2a:1c",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_hostname_rule() {
        for ok in ["ReCyClusteR-Target-3f2a1c", "a", "n1", &"x".repeat(63)] {
            assert_eq!(check_hostname(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_hostname(""), Err(HostnameError::Empty));
        assert_eq!(check_hostname(&"x".repeat(64)), Err(HostnameError::TooLong));
        assert_eq!(check_hostname("-a"), Err(HostnameError::EdgeHyphen));
        assert_eq!(check_hostname("a-"), Err(HostnameError::EdgeHyphen));
        for (bad, c) in [
            ("node_1", '_'),
            ("a.b", '.'),
            ("a b", ' '),
            ("a;rm", ';'),
            ("$(reboot)", '$'),
            ("a\nb", '\n'),
            ("a\x1b[31m", '\x1b'),
            ("é", 'é'),
            ("x86_64 ansible_connection=local", '_'),
        ] {
            assert_eq!(
                check_hostname(bad),
                Err(HostnameError::BadChar(c)),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_hostname("a b").unwrap_err().to_string(),
            "contains ' '; use letters, digits and hyphens"
        );
    }

    #[test]
    fn dns_names_are_labels_that_follow_the_rule() {
        for ok in ["ReCyClusteR-Target-01.lab", "a", "a.b.c"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62),
        ]
        .join(".");
        assert_eq!(long.len(), 254);
        for bad in ["", ".", "a..b", ".a", "a.", "node_1.lab", "a-.lab", &long] {
            assert!(!is_dns_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn matching_ignores_case_and_needs_a_valid_name() {
        assert!(name_matches("ReCyClusteR-Target-3f2a1c", "ReCyClusteR"));
        assert!(name_matches("recyclusteR-target-01.lab", "RECYCLUSTER"));
        assert!(!name_matches("kitchen-laptop", "ReCyClusteR"));
        assert!(!name_matches("ReCyClusteR;reboot", "ReCyClusteR"));
        assert!(!name_matches("ReCyClusteR Target", "ReCyClusteR"));
        assert!(name_matches("anything", ""));
        assert!(!name_matches("Re", "ReCyClusteR"));
    }

    #[test]
    fn image_defaults_and_generated_names() {
        for d in [
            "",
            "localhost",
            "(NONE)",
            "recycluster-target",
            "ReCyClusteR-Control",
        ] {
            assert!(is_image_default(d), "{d}");
        }
        for n in ["ReCyClusteR-Target-01", "kitchen-pi", "alpine"] {
            assert!(!is_image_default(n), "{n}");
        }
        let mac: Mac = "02:52:43:3f:2a:1c".parse().unwrap();
        assert_eq!(
            generated_name(NAME_PREFIX, Role::Target, mac_tail(mac)),
            "ReCyClusteR-Target-3f2a1c"
        );
        assert_eq!(
            generated_name("lab", Role::Control, [0, 5, 6]),
            "lab-Control-000506"
        );
        assert!(is_hostname(&generated_name(
            NAME_PREFIX,
            Role::Control,
            [255; 3]
        )));
    }

    #[test]
    fn hostnames_are_dns_names_and_nothing_else() {
        for ok in ["ReCyClusteR-Target-01", "node-1.lab", "10.0.0.5", "a"] {
            let name = Hostname::parse(ok).unwrap();
            assert_eq!(name, ok);
            assert_eq!(name.to_string(), ok);
        }
        for bad in [
            "",
            "a\tb",
            "a\nb",
            "a b",
            "a=b",
            "x\x1b[2J",
            "a..b",
            "a.",
            "node_1",
            "[x]",
            &"a".repeat(64),
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_dns_name("ok.a;b"), Err(HostnameError::BadChar(';')));
    }

    #[test]
    fn facts_are_two_lines_a_name_and_a_word() {
        let facts = Facts::parse(b"ReCyClusteR-Target-01\nx86_64\n").unwrap();
        assert_eq!(facts.hostname, "ReCyClusteR-Target-01");
        assert_eq!(facts.arch, Some(Arch::X86_64));
        // A well-formed arch rccr does not build for is unknown, not bad.
        let facts = Facts::parse(b"n1\nriscv64").unwrap();
        assert_eq!(facts.arch, None);
        for (bad, why) in [
            (&b""[..], FactsError::Lines(1)),
            (b"n1\n", FactsError::Lines(1)),
            (b"n1\nx86_64\nextra\n", FactsError::Line(3)),
            (b"n1\nx86_64\n\n", FactsError::Line(3)),
            (
                b"n1\tx\nx86_64\n",
                FactsError::Hostname(HostnameError::BadChar('\t')),
            ),
            (b"n1\nx86_64 ansible_connection=local\n", FactsError::Arch),
            (b"n1\nx86_64\x1b[2J\n", FactsError::Arch),
            (b"n1\n\n", FactsError::Arch),
            (
                b"n1\r\nx86_64\r\n",
                FactsError::Hostname(HostnameError::BadChar('\r')),
            ),
            (b"\xff\nx86_64\n", FactsError::NotText),
        ] {
            assert_eq!(
                Facts::parse(bad),
                Err(why),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            FactsError::Hostname(HostnameError::BadChar('=')).to_string(),
            "the hostname contains '='; use letters, digits and hyphens"
        );
    }

    const BOOT: &str = "0f6c3e1a-9b2d-4c5e-8f70-a1b2c3d4e5f6";

    #[test]
    fn facts_tell_the_node_s_own_macs_strictly() {
        let mac = |s: &str| s.parse::<Mac>().unwrap();
        let out = format!(
            "n1\naarch64\nboot {BOOT}\nlocal 10.0.0.5/32\nmac 00:00:00:00:00:00\n\
             mac 02:52:43:00:00:05\nmac b8:27:eb:01:02:03\nmac 02:52:43:00:00:05\n"
        );
        let facts = Facts::parse(out.as_bytes()).unwrap();
        assert_eq!(
            facts.macs,
            [mac("02:52:43:00:00:05"), mac("b8:27:eb:01:02:03")]
        );
        assert_eq!(facts.has_mac(mac("02:52:43:00:00:05")), Some(true));
        assert_eq!(facts.has_mac(mac("02:52:43:00:00:06")), Some(false));
        // An older node: none told, unknown.
        let old = Facts::parse(b"n1\nx86_64\nlocal 10.0.0.5/32\n").unwrap();
        assert_eq!(old.has_mac(mac("02:52:43:00:00:06")), None);
        // Loopback's alone is none told.
        let lo = Facts::parse(b"n1\nx86_64\nmac 00:00:00:00:00:00\n").unwrap();
        assert_eq!(lo.has_mac(mac("02:52:43:00:00:06")), None);
        // Only the kernel's form: lowercase, colons, six bytes.
        for bad in [
            "mac 02:52:43:00:00:0A",
            "mac 02-52-43-00-00-0a",
            "mac 02:52:43:00:00",
            "mac 02:52:43:00:00:0a:01",
            "mac  02:52:43:00:00:0a",
            "mac 02:52:43:00:00:0a\x1b[2J",
            "mac",
        ] {
            let out = format!("n1\nx86_64\n{bad}\n");
            assert_eq!(
                Facts::parse(out.as_bytes()),
                Err(FactsError::Line(3)),
                "{bad}"
            );
        }
        // More MACs than rccr keeps: as if none were told.
        let many: String = (0..=MAX_MACS)
            .map(|i| format!("mac 02:00:00:00:{:02x}:{:02x}\n", i / 256, i % 256))
            .collect();
        let facts = Facts::parse(format!("n1\nx86_64\n{many}").as_bytes()).unwrap();
        assert_eq!(facts.has_mac(mac("02:00:00:00:00:01")), None);
    }

    #[test]
    fn facts_tell_a_boot_id_and_local_blocks_where_the_node_has_them() {
        // What a lab host answers FACTS_COMMAND with: its address twice
        // (fib_trie's Main and Local tables), loopback, a local block.
        let out = format!(
            "n1\naarch64\nboot {BOOT}\nlocal 127.0.0.0/8\nlocal 127.0.0.1/32\n\
             local 10.213.0.101/32\nlocal 10.213.0.32/27\nlocal 127.0.0.0/8\n\
             local 10.213.0.101/32\n"
        );
        let facts = Facts::parse(out.as_bytes()).unwrap();
        assert_eq!(facts.boot.map(|b| b.to_string()).as_deref(), Some(BOOT));
        let local: Vec<String> = facts.local.iter().map(|b| b.to_string()).collect();
        assert_eq!(
            local,
            [
                "127.0.0.0/8",
                "127.0.0.1/32",
                "10.213.0.101/32",
                "10.213.0.32/27"
            ]
        );
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(facts.owns(ip("10.213.0.101")), Some(true));
        assert_eq!(facts.owns(ip("10.213.0.63")), Some(true));
        assert_eq!(facts.owns(ip("10.213.0.2")), Some(false));
        // An older node: neither told, both unknown.
        let old = Facts::parse(b"n1\nx86_64\n").unwrap();
        assert_eq!((old.boot, old.owns(ip("10.213.0.2"))), (None, None));
        // Local blocks without a boot_id, and a boot_id alone, are facts.
        let facts = Facts::parse(b"n1\nx86_64\nlocal 10.0.0.5/32").unwrap();
        assert_eq!((facts.boot, facts.owns(ip("10.0.0.5"))), (None, Some(true)));
        let facts = Facts::parse(format!("n1\nx86_64\nboot {BOOT}").as_bytes()).unwrap();
        assert!(facts.boot.is_some() && facts.owns(ip("10.0.0.5")).is_none());
        // More blocks than rccr keeps: as if none were told.
        let many: String = (0..=MAX_LOCAL_BLOCKS)
            .map(|i| format!("local 10.0.{i}.1/32\n"))
            .collect();
        let facts = Facts::parse(format!("n1\nx86_64\n{many}").as_bytes()).unwrap();
        assert_eq!(facts.owns(ip("10.0.0.1")), None);
        let fits: String = many
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n{l}\n"))
            .collect();
        let facts = Facts::parse(format!("n1\nx86_64\n{fits}").as_bytes()).unwrap();
        assert_eq!(facts.local.len(), MAX_LOCAL_BLOCKS);
    }

    #[test]
    fn boot_ids_and_local_blocks_are_strict() {
        let upper = BOOT.to_ascii_uppercase();
        let bad_boots = [
            "",
            "0f6c3e1a9b2d4c5e8f70a1b2c3d4e5f6",
            &upper,
            "0f6c3e1a-9b2d-4c5e-8f70-a1b2c3d4e5f",
            "0f6c3e1a-9b2d-4c5e-8f70-a1b2c3d4e5f6a",
            "0f6c3e1a-9b2d-4c5e-8f70_a1b2c3d4e5f6",
            "0f6c3e1a-9b2d-4c5e-8f7-0a1b2c3d4e5f6",
            "0f6c3e1a-9b2d-4c5e-8f70-a1b2c3d4e5g6",
            "+f6c3e1a-9b2d-4c5e-8f70-a1b2c3d4e5f6",
            "0f6c3e1a-9b2d-4c5e-8f70-a1b2c3d4e5\u{e9}",
        ];
        for bad in bad_boots {
            assert!(bad.parse::<BootId>().is_err(), "{bad:?}");
        }
        for (bad, line) in [
            (format!("boot {BOOT}\nboot {BOOT}"), 4),
            (format!("local 10.0.0.1/32\nboot {BOOT}"), 4),
            (format!("boot  {BOOT}"), 3),
            (format!("boot {BOOT} "), 3),
            (format!("boot {BOOT}\r"), 3),
            (format!("Boot {BOOT}"), 3),
            (format!("boot {upper}"), 3),
            ("local 10.0.0.1".into(), 3),
            ("local 10.0.0.1/24".into(), 3),
            ("local 10.0.0.0/33".into(), 3),
            ("local 010.0.0.1/32".into(), 3),
            ("local 10.0.0.0/08".into(), 3),
            ("local 10.0.0.1/032".into(), 3),
            ("local 10.0.0.1/32 ".into(), 3),
            ("local  10.0.0.1/32".into(), 3),
            ("local 10.0.0.1/32\t".into(), 3),
            ("local ::1/128".into(), 3),
            ("local 10.0.0.1/32\n\n".into(), 4),
            (
                "local 10.0.0.1/32\nlocal 10.0.0.2/32 ansible_host=x".into(),
                4,
            ),
            ("ansible_connection=local".into(), 3),
        ] {
            let out = format!("n1\nx86_64\n{bad}");
            assert_eq!(
                Facts::parse(out.as_bytes()),
                Err(FactsError::Line(line)),
                "{bad:?}"
            );
        }
        assert_eq!(
            FactsError::Line(4).to_string(),
            "line 4 is neither the boot_id (boot UUID) nor a local block (local A.B.C.D/N) \
             nor a MAC (mac xx:xx:xx:xx:xx:xx)"
        );
    }

    #[test]
    fn arches_are_a_closed_set() {
        for a in Arch::ALL {
            assert_eq!(a.uname().parse(), Ok(a));
            assert_eq!(a.to_string(), a.uname());
        }
        for bad in [
            "",
            "x86_64 ansible_connection=local",
            "X86_64",
            "riscv64",
            "x86_64\n",
        ] {
            assert!(bad.parse::<Arch>().is_err(), "{bad:?}");
        }
        assert_eq!(Arch::I686.release_name(), "x86");
        assert_eq!(Arch::Armv6l.release_name(), "armhf");
        assert!(Arch::Aarch64.is_64_bit() && !Arch::Armv7l.is_64_bit());
    }
}
