//! Making the kernel forget a MAC address the sweep proved stale.
//!
//! The sweep hears ARP itself, on a packet socket; everything after it
//! (the TCP probe of port 22, SSH logins) goes through the kernel, which
//! sends it to the MAC its neighbour cache holds for the address. The
//! kernel takes a newer ARP answer into its cache on its own, but not
//! always: an entry that changed state in the last second (`locktime`)
//! keeps its MAC. Two machines that had swapped addresses then each got
//! the other's probe, and showed as no-ssh.
//!
//! So for every host the sweep hears from on an interface, before its
//! probe starts, the sweep reads the kernel's entry for the address there
//! (SIOCGARP, [`Neighbours::read`]). When it holds another MAC, learnt
//! from ARP, the host's probe waits a full round's interval (the time a
//! round gives any answer), or until the sweep's end if that comes first:
//! if that MAC alone answered by then, [`Neighbours::check`] deletes the
//! entry (SIOCDARP), and the kernel resolves the address again itself, by
//! its own rules, when the probe is sent. If two MACs answered, the entry
//! is left: the first answer may be a liar's, and deleting the kernel's
//! good entry on it would give the liar another race for the kernel's own
//! request.
//!
//! Deleting, not writing the MAC the sweep heard (SIOCSARP), is the choice
//! that is safe on a hostile LAN: any machine can answer an ARP request,
//! and a written entry is an administrator's word, which the kernel would
//! trust without asking (for good, as a permanent one). A deleted entry
//! gives no answer any weight: the kernel asks again, exactly as when an
//! entry expires. A permanent entry (an administrator's static ARP, often
//! set against spoofing) is never touched: a host answering from another
//! MAC is reported, and probed at once, as there is nothing to wait for.
//! Failing to delete (no `CAP_NET_ADMIN`) costs a warning, never the scan.
//!
//! One entry is read per live host, when it answers (and again when its
//! wait ends if it disagreed): the cache is never read whole (a /16 may
//! hold thousands of entries), and what is read is the kernel's state of
//! that moment, after it saw the same answer.
use crate::sys::{ArpCache, Neighbour};
use crate::wire::ethernet::Address as MacAddr;
use std::io;
use std::net::Ipv4Addr;

/// At most this many addresses are named in one warning.
const MAX_NAMED: usize = 8;

/// What to do about the kernel's entry for an address the sweep heard
/// answered from `heard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No entry, or the same MAC: the kernel sends where the answer came from.
    Agrees,
    /// Another MAC, learnt from ARP: delete it.
    Stale,
    /// Another MAC, pinned by an administrator: leave it, and say so.
    Pinned(MacAddr),
}

/// Compares the kernel's entry with the MAC the sweep heard.
pub fn verdict(kernel: Option<Neighbour>, heard: MacAddr) -> Verdict {
    match kernel {
        Some(entry) if MacAddr(entry.mac) != heard => {
            if entry.permanent {
                Verdict::Pinned(MacAddr(entry.mac))
            } else {
                Verdict::Stale
            }
        }
        _ => Verdict::Agrees,
    }
}

/// The kernel's neighbour cache, entry by entry: [`ArpCache`], or in the
/// unit tests a cache in memory that records what the sweep did to it.
pub trait Cache {
    /// The complete entry for `ip` on `iface`, if there is one.
    fn get(&self, iface: &str, ip: Ipv4Addr) -> io::Result<Option<Neighbour>>;
    /// Deletes the entry for `ip` on `iface`; `Ok` when there was none.
    fn delete(&self, iface: &str, ip: Ipv4Addr) -> io::Result<()>;
}

impl Cache for ArpCache {
    fn get(&self, iface: &str, ip: Ipv4Addr) -> io::Result<Option<Neighbour>> {
        ArpCache::get(self, iface, ip)
    }

    fn delete(&self, iface: &str, ip: Ipv4Addr) -> io::Result<()> {
        ArpCache::delete(self, iface, ip)
    }
}

/// Keeps the kernel's neighbour cache in step with one sweep's answers,
/// and gathers what went wrong for the sweep's warnings.
pub struct Neighbours {
    /// `None` when the socket for the ioctls could not be opened.
    cache: Option<Box<dyn Cache>>,
    /// Stale entries that could not be deleted, with the first error.
    kept: Vec<Ipv4Addr>,
    error: Option<io::Error>,
    /// Hosts that answered from another MAC than a permanent entry's.
    pinned: Vec<(Ipv4Addr, String, MacAddr, MacAddr)>,
}

impl Neighbours {
    pub fn open() -> Neighbours {
        match ArpCache::open() {
            Ok(cache) => Neighbours::over(Box::new(cache)),
            Err(e) => Neighbours {
                cache: None,
                kept: Vec::new(),
                error: Some(e),
                pinned: Vec::new(),
            },
        }
    }

    /// Over `cache`: the kernel's ([`Neighbours::open`]), or in the unit
    /// tests one that records what the sweep did.
    pub fn over(cache: Box<dyn Cache>) -> Neighbours {
        Neighbours {
            cache: Some(cache),
            kept: Vec::new(),
            error: None,
            pinned: Vec::new(),
        }
    }

    /// The kernel's entry for `ip` on `iface` against the MAC `heard`.
    /// Only [`Verdict::Stale`] is for the caller to act on: a pinned
    /// entry is reported here, at once (it is never deleted, so there is
    /// nothing to wait for), and an entry that cannot be read agrees
    /// (nothing is known to be stale).
    pub fn read(&mut self, iface: &str, ip: Ipv4Addr, heard: MacAddr) -> Verdict {
        let Some(cache) = &self.cache else {
            return Verdict::Agrees;
        };
        let verdict = match cache.get(iface, ip) {
            Ok(entry) => verdict(entry, heard),
            Err(e) => {
                self.error.get_or_insert(e);
                Verdict::Agrees
            }
        };
        if let Verdict::Pinned(pinned) = verdict {
            self.pinned.push((ip, iface.into(), heard, pinned));
        }
        verdict
    }

    /// `ip` answered on `iface` from `heard` alone: makes the kernel forget
    /// another MAC it holds for it there.
    pub fn check(&mut self, iface: &str, ip: Ipv4Addr, heard: MacAddr) {
        if self.read(iface, ip, heard) == Verdict::Stale {
            let deleted = self.cache.as_ref().map(|c| c.delete(iface, ip));
            if let Some(Err(e)) = deleted {
                self.kept.push(ip);
                self.error.get_or_insert(e);
            }
        }
    }

    /// What the user should hear about on stderr.
    pub fn warnings(self) -> Vec<String> {
        let mut out: Vec<String> = self
            .pinned
            .iter()
            .map(|(ip, iface, heard, pinned)| {
                format!(
                    "{ip} answered from {heard}, but a permanent neighbour entry on {iface} sends its traffic to {pinned}: left as it is (`ip neigh show {ip}`)"
                )
            })
            .collect();
        if let (false, Some(e)) = (self.kept.is_empty(), &self.error) {
            let mut named: Vec<String> = self
                .kept
                .iter()
                .take(MAX_NAMED)
                .map(|ip| ip.to_string())
                .collect();
            if self.kept.len() > MAX_NAMED {
                named.push(format!("{} more", self.kept.len() - MAX_NAMED));
            }
            let why = match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => "that needs CAP_NET_ADMIN".to_string(),
                _ => e.to_string(),
            };
            out.push(format!(
                "the kernel's neighbour cache holds an old MAC address for {} and could not be cleared ({why}): SSH probes may miss these hosts until the entries expire",
                named.join(", ")
            ));
        }
        out
    }
}

/// A neighbour cache in memory for the unit tests: the entries the
/// kernel holds, and the deletions the sweep made, in their order. Its
/// clones share one cache, so a test keeps a handle on the one it gives.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Recorded(std::rc::Rc<std::cell::RefCell<RecordedState>>);

#[cfg(test)]
#[derive(Default)]
struct RecordedState {
    entries: std::collections::BTreeMap<(String, Ipv4Addr), Neighbour>,
    deleted: Vec<(String, Ipv4Addr)>,
}

#[cfg(test)]
impl Recorded {
    /// A kernel that holds each (ip, mac, permanent) entry on `iface`
    /// (and none on any other interface).
    pub fn holding(iface: &str, entries: &[(Ipv4Addr, MacAddr, bool)]) -> Recorded {
        let kernel = Recorded::default();
        for (ip, mac, permanent) in entries {
            let entry = Neighbour {
                mac: mac.0,
                permanent: *permanent,
            };
            let key = (iface.to_string(), *ip);
            kernel.0.borrow_mut().entries.insert(key, entry);
        }
        kernel
    }

    /// The (interface, address) of each entry the sweep deleted, in that
    /// order.
    pub fn deleted(&self) -> Vec<(String, Ipv4Addr)> {
        self.0.borrow().deleted.clone()
    }
}

#[cfg(test)]
impl Cache for Recorded {
    fn get(&self, iface: &str, ip: Ipv4Addr) -> io::Result<Option<Neighbour>> {
        let key = (iface.to_string(), ip);
        Ok(self.0.borrow().entries.get(&key).copied())
    }

    fn delete(&self, iface: &str, ip: Ipv4Addr) -> io::Result<()> {
        let mut state = self.0.borrow_mut();
        let key = (iface.to_string(), ip);
        state.entries.remove(&key);
        state.deleted.push(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEARD: MacAddr = MacAddr([0x02, 0x52, 0x43, 0x4c, 0x00, 0x03]);
    const OLD: [u8; 6] = [0x02, 0x52, 0x43, 0x4c, 0x00, 0x02];

    #[test]
    fn only_another_learnt_mac_is_deleted() {
        assert_eq!(verdict(None, HEARD), Verdict::Agrees);
        let same = Neighbour {
            mac: HEARD.0,
            permanent: false,
        };
        assert_eq!(verdict(Some(same), HEARD), Verdict::Agrees);
        let same_pinned = Neighbour {
            permanent: true,
            ..same
        };
        assert_eq!(verdict(Some(same_pinned), HEARD), Verdict::Agrees);
        let old = Neighbour {
            mac: OLD,
            permanent: false,
        };
        assert_eq!(verdict(Some(old), HEARD), Verdict::Stale);
        let pinned = Neighbour {
            permanent: true,
            ..old
        };
        assert_eq!(verdict(Some(pinned), HEARD), Verdict::Pinned(MacAddr(OLD)));
    }

    #[test]
    fn warnings_name_what_was_kept_and_pinned() {
        let mut n = Neighbours {
            cache: None,
            kept: (1..=10).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect(),
            error: Some(io::Error::from_raw_os_error(libc::EPERM)),
            pinned: vec![(
                Ipv4Addr::new(10, 0, 0, 20),
                "eth0".into(),
                HEARD,
                MacAddr(OLD),
            )],
        };
        let w = n.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with(
                "10.0.0.20 answered from 02:52:43:4c:00:03, but a permanent neighbour entry on eth0 sends its traffic to 02:52:43:4c:00:02"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with(
                "the kernel's neighbour cache holds an old MAC address for 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, 2 more and could not be cleared (that needs CAP_NET_ADMIN): "
            ),
            "{w:?}"
        );
        // Nothing kept: an error reading the cache alone is no warning.
        n = Neighbours {
            cache: None,
            kept: Vec::new(),
            error: Some(io::Error::from_raw_os_error(libc::EPERM)),
            pinned: Vec::new(),
        };
        assert!(n.warnings().is_empty());
    }
}
