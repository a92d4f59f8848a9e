//! The node's first Ethernet interface, whose MAC address makes the
//! generated hostname unique, read from `/sys/class/net`.
//!
//! The rule, in order of preference (lowest rank first):
//!
//! 0. `eth*` / `en*` interfaces with a `device` link (real hardware);
//! 1. `eth*` / `en*` interfaces without one (the test lab's veth `eth0`,
//!    some virtual machines);
//! 2. other wired interfaces with a `device` link (`usb0`);
//! 3. wireless interfaces with a `device` link (`wlan0`: a Pi Zero W has
//!    no Ethernet at all).
//!
//! Skipped: `lo`, non-Ethernet link types (`type` is not 1), interfaces
//! without a usable MAC (all zeros, multicast), bridges, and every other
//! interface without a `device` link (veth pairs, bridges, bonds, VLANs,
//! tunnels, docker0). Within a rank, names sort naturally (`eth2` before
//! `eth10`), which is stable across boots where probe order is not.
//!
//! The same ranks say which interfaces get DHCP at boot ([`wired`]: ranks
//! 0 and 2) and which may join a Wi-Fi network ([`wireless`]: rank 3).
use crate::identity::Mac;
use std::cmp::Ordering;
use std::fs;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub mac: Mac,
}

/// The preference rank of interface `name` (see the module doc), or `None`
/// when it is not a candidate.
fn rank(dir: &Path, name: &str) -> Option<u8> {
    if name == "lo" || dir.join("bridge").exists() {
        return None;
    }
    if let Ok(t) = fs::read_to_string(dir.join("type")) {
        if t.trim() != "1" {
            return None;
        }
    }
    let device = dir.join("device").exists();
    let wireless =
        dir.join("wireless").exists() || dir.join("phy80211").exists() || name.starts_with("wl");
    let ethernet_name = name.starts_with("eth") || name.starts_with("en");
    match (ethernet_name && !wireless, device, wireless) {
        (true, true, _) => Some(0),
        (true, false, _) => Some(1),
        (false, true, false) => Some(2),
        (false, true, true) => Some(3),
        (false, false, _) => None,
    }
}

/// Orders `eth2` before `eth10`: digit runs compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|d| **d == b'0').count();
    &digits[zeros..]
}

/// Every candidate interface under `class_net` (a `/sys/class/net`) with
/// its rank, in the order of the module doc: by rank, then by name.
fn candidates(class_net: &Path) -> Vec<(u8, Nic)> {
    let mut found: Vec<(u8, Nic)> = Vec::new();
    let Ok(entries) = fs::read_dir(class_net) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let dir = class_net.join(&name);
        let Some(rank) = rank(&dir, &name) else {
            continue;
        };
        let Some(mac) = fs::read_to_string(dir.join("address"))
            .ok()
            .and_then(|t| t.trim().parse::<Mac>().ok())
            .filter(Mac::is_unicast)
        else {
            continue;
        };
        found.push((rank, Nic { name, mac }));
    }
    found.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then_with(|| natural_cmp(&a.name, &b.name)));
    found
}

/// The first Ethernet interface under `class_net` (a `/sys/class/net`).
pub fn first_ethernet(class_net: &Path) -> Option<Nic> {
    candidates(class_net).into_iter().next().map(|(_, nic)| nic)
}

/// The names of the wired interfaces of real hardware (ranks 0 and 2: a
/// `device` link, not wireless), in name order: those DHCP is brought up
/// on. Docker's bridges and veths, bonds, VLANs and tunnels have no
/// `device` link and are never among them.
pub fn wired(class_net: &Path) -> Vec<String> {
    of_ranks(class_net, &[0, 2])
}

/// The names of the wireless interfaces of real hardware (rank 3), in name
/// order.
pub fn wireless(class_net: &Path) -> Vec<String> {
    of_ranks(class_net, &[3])
}

fn of_ranks(class_net: &Path, ranks: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = candidates(class_net)
        .into_iter()
        .filter(|(rank, _)| ranks.contains(rank))
        .map(|(_, nic)| nic.name)
        .collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::scratch;

    struct Sys(scratch::Dir);

    impl Sys {
        fn new(tag: &str) -> Sys {
            Sys(scratch::Dir::new(&format!("nic-{tag}")))
        }

        fn iface(&self, name: &str, mac: &str, extra: &[&str]) -> &Self {
            let d = self.0.join(name);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("address"), format!("{mac}\n")).unwrap();
            for e in extra {
                match *e {
                    "device" => std::os::unix::fs::symlink("/", d.join("device")).unwrap(),
                    "bridge" | "wireless" => fs::create_dir(d.join(e)).unwrap(),
                    t => fs::write(d.join("type"), t).unwrap(),
                }
            }
            self
        }
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("eth2", "eth10"), Ordering::Less);
        assert_eq!(natural_cmp("eth0", "eth0"), Ordering::Equal);
        assert_eq!(natural_cmp("enp1s0", "enp0s31f6"), Ordering::Greater);
        assert_eq!(natural_cmp("eth", "eth0"), Ordering::Less);
    }

    #[test]
    fn hardware_ethernet_wins_then_named_ethernet_then_others() {
        let sys = Sys::new("order");
        sys.iface("lo", "00:00:00:00:00:00", &["772"])
            .iface("docker0", "02:42:ac:11:00:01", &[])
            .iface("br0", "02:00:00:00:00:09", &["bridge", "device"])
            .iface("wlan0", "b8:27:eb:00:00:03", &["device", "wireless"])
            .iface("usb0", "b8:27:eb:00:00:04", &["device"])
            .iface("eth10", "b8:27:eb:00:00:10", &[])
            .iface("eth2", "b8:27:eb:00:00:02", &[]);
        assert_eq!(first_ethernet(&sys.0).unwrap().name, "eth2");
        sys.iface("enp3s0", "00:1a:2b:3c:4d:5e", &["device", "1"]);
        let nic = first_ethernet(&sys.0).unwrap();
        assert_eq!(nic.name, "enp3s0");
        assert_eq!(nic.mac, Mac([0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]));
    }

    #[test]
    fn wired_and_wireless_are_the_hardware_ones_only() {
        let sys = Sys::new("wired");
        sys.iface("lo", "00:00:00:00:00:00", &["772"])
            .iface("docker0", "02:42:ac:11:00:01", &["bridge"])
            .iface("br0", "02:00:00:00:00:09", &["bridge", "device"])
            .iface("veth3a1b2c", "02:42:ac:11:00:02", &[])
            .iface("eth0", "02:52:43:4c:00:01", &[])
            .iface("wlan0", "b8:27:eb:00:00:03", &["device", "wireless"])
            .iface("usb0", "b8:27:eb:00:00:04", &["device"])
            .iface("eth10", "00:1a:2b:3c:4d:10", &["device"])
            .iface("eth2", "00:1a:2b:3c:4d:02", &["device", "1"])
            .iface("ib0", "00:1a:2b:3c:4d:09", &["device", "32"]);
        assert_eq!(wired(&sys.0), ["eth2", "eth10", "usb0"]);
        assert_eq!(wireless(&sys.0), ["wlan0"]);
        assert!(wired(Path::new("/nonexistent-rccr")).is_empty());
    }

    #[test]
    fn wireless_is_the_last_resort_and_virtual_ones_never_count() {
        let sys = Sys::new("wifi");
        sys.iface("veth1", "02:00:00:00:00:01", &[]).iface(
            "wlan0",
            "b8:27:eb:00:00:03",
            &["device", "wireless"],
        );
        assert_eq!(first_ethernet(&sys.0).unwrap().name, "wlan0");
        let empty = Sys::new("none");
        empty
            .iface("veth1", "02:00:00:00:00:01", &[])
            .iface("eth0", "00:00:00:00:00:00", &[]);
        assert_eq!(first_ethernet(&empty.0), None);
        assert_eq!(first_ethernet(Path::new("/nonexistent-rccr")), None);
    }
}
