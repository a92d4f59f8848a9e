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

pub use crate::wire::ethernet::Address as Mac;

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

/// The longest label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;
/// The longest DNS name in text form (255 bytes on the wire).
pub const MAX_DNS_NAME_LEN: usize = 253;

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
    name.len() <= MAX_DNS_NAME_LEN && name.split('.').all(is_hostname)
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
