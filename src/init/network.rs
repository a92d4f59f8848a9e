//! DHCP on every interface a node can join its LAN through, written into
//! `/etc/network/interfaces` at boot, before `networking` reads it.
//!
//! The image's file brings up `eth0` only. A recycled PC whose NIC the
//! kernel names otherwise, or whose cable is in its second NIC, would never
//! join; so at every boot `rccr-init` adds a stanza for each interface that
//! needs one:
//!
//! - every **wired** interface of real hardware present now
//!   ([`super::nic::wired`]: Docker's bridges and veths, bonds, VLANs and
//!   tunnels never count);
//! - every **wireless** one ([`super::nic::wireless`], else `wlan0`, whose
//!   driver may still be loading its firmware), when a Wi-Fi configuration
//!   is installed ([`super::wifi`]): wpa_supplicant through ifupdown-ng's
//!   `wifi` executor, then DHCP.
//!
//! Each stanza is `auto IFACE` and `iface IFACE inet dhcp` with the
//! `hostname` option that [`super::hostname`] keeps current, so the DHCP
//! server learns the node's name through every interface, as through
//! `eth0`. An interface the file already names anywhere (`iface`, `auto`,
//! `allow-*`, `mapping`) is left as it is: `iface eth1 inet manual` keeps
//! rccr-init off `eth1`. A file that includes others (`source`,
//! `source-directory`) is the user's own and gets nothing added. Stanzas
//! are only added, never removed: one for an interface gone since brings
//! nothing up, and `networking` starts when any interface comes up.
use super::hostname::{lines, starts_stanza, words};
use std::path::Path;

/// Where the installed Wi-Fi configuration lives, as the stanza names it.
pub const WPA_CONF: &str = "/etc/wpa_supplicant/wpa_supplicant.conf";
/// The interface the kernel gives the first Wi-Fi device.
const FIRST_WIRELESS: &str = "wlan0";

/// An interface to bring up with DHCP, and whether it joins Wi-Fi first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp {
    pub iface: String,
    pub wifi: bool,
}

/// The stanzas this boot wants: the wired interfaces under `class_net`,
/// and the wireless ones when `wifi` (a configuration is installed).
pub fn at_boot(class_net: &Path, wifi: bool) -> Vec<Dhcp> {
    let mut out: Vec<Dhcp> = super::nic::wired(class_net)
        .into_iter()
        .map(|iface| Dhcp { iface, wifi: false })
        .collect();
    if wifi {
        let mut wireless = super::nic::wireless(class_net);
        if wireless.is_empty() {
            wireless.push(FIRST_WIRELESS.to_string());
        }
        out.extend(wireless.into_iter().map(|iface| Dhcp { iface, wifi: true }));
    }
    out.retain(|d| iface_name_ok(&d.iface));
    out
}

/// An interface name fit for interfaces(5) and the executors' shells:
/// letters, digits, `_`, `.`, `-`, at most 15 bytes (the kernel's limit),
/// not starting with `-`. The kernel allows more (`$`, `;`, ...).
fn iface_name_ok(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether the file includes others, whose interfaces this one cannot see.
fn sources_others(content: &[u8]) -> bool {
    lines(content).iter().any(|line| {
        words(line)
            .first()
            .is_some_and(|&(s, e)| matches!(&line[s..e], b"source" | b"source-directory"))
    })
}

/// Every interface a stanza of the file names.
fn mentioned(content: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in lines(content) {
        let ws = words(line);
        let Some(&(s, e)) = ws.first() else {
            continue;
        };
        let first = &line[s..e];
        if !starts_stanza(first) {
            continue;
        }
        let names = ws[1..].iter().map(|&(s, e)| line[s..e].to_vec());
        match first {
            b"auto" => out.extend(names),
            f if f.starts_with(b"allow-") => out.extend(names),
            b"iface" | b"interface" | b"mapping" => out.extend(names.take(1)),
            _ => {}
        }
    }
    out
}

/// `content` with a DHCP stanza (hostname `name`) for each of `add` that it
/// does not name yet; every existing byte kept. Also returns the interfaces
/// added. Nothing is added to a file that includes others.
pub fn with_dhcp(content: &[u8], add: &[Dhcp], name: &str) -> (Vec<u8>, Vec<String>) {
    let mut out = content.to_vec();
    let mut added = Vec::new();
    if add.is_empty() || sources_others(content) {
        return (out, added);
    }
    let named = mentioned(content);
    for d in add {
        if named.iter().any(|n| n == d.iface.as_bytes()) || added.contains(&d.iface) {
            continue;
        }
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        let i = &d.iface;
        let stanza = if d.wifi {
            format!(
                "\n# rccr-init: Wi-Fi, with {WPA_CONF}\nauto {i}\niface {i} inet dhcp\n\thostname {name}\n\tuse wifi\n\twifi-config-path {WPA_CONF}\n"
            )
        } else {
            format!(
                "\n# rccr-init: a wired interface present at boot\nauto {i}\niface {i} inet dhcp\n\thostname {name}\n"
            )
        };
        out.extend_from_slice(stanza.as_bytes());
        added.push(i.clone());
    }
    (out, added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::hostname::interfaces_with_hostname;

    const N: &str = "ReCyClusteR-Target-4c0001";
    const IMAGE: &str =
        "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\thostname ReCyClusteR-Target\n";

    fn wired(names: &[&str]) -> Vec<Dhcp> {
        names
            .iter()
            .map(|n| Dhcp {
                iface: n.to_string(),
                wifi: false,
            })
            .collect()
    }

    #[test]
    fn every_wired_interface_not_named_gets_dhcp_with_the_hostname() {
        let (after, added) = with_dhcp(IMAGE.as_bytes(), &wired(&["eth0", "eth1", "enp3s0"]), N);
        assert_eq!(added, ["eth1", "enp3s0"]);
        let text = String::from_utf8(after.clone()).unwrap();
        assert!(text.starts_with(IMAGE), "{text}");
        assert!(
            text.ends_with(&format!(
                "auto eth1\niface eth1 inet dhcp\n\thostname {N}\n\n# rccr-init: a wired interface present at boot\nauto enp3s0\niface enp3s0 inet dhcp\n\thostname {N}\n"
            )),
            "{text}"
        );
        // Idempotent, and the hostname rewrite leaves the new stanzas as
        // they are but for the image's eth0.
        assert_eq!(with_dhcp(&after, &wired(&["eth1", "enp3s0"]), N).0, after);
        let renamed = interfaces_with_hostname(&after, N);
        assert_eq!(
            String::from_utf8(renamed).unwrap(),
            text.replace("hostname ReCyClusteR-Target\n", &format!("hostname {N}\n"))
        );
    }

    #[test]
    fn what_the_user_named_or_included_is_left_alone() {
        let user = b"auto lo eth1\niface eth1 inet manual\nallow-hotplug eth2\nmapping eth3\n  script x\niface eth4 inet static\n  address 10.0.0.2/24";
        let (after, added) = with_dhcp(user, &wired(&["eth1", "eth2", "eth3", "eth4", "eth5"]), N);
        assert_eq!(added, ["eth5"]);
        assert!(after.starts_with(b"auto lo eth1\n"));
        assert!(after.ends_with(format!("iface eth5 inet dhcp\n\thostname {N}\n").as_bytes()));
        // The last line had no newline: one is added before the stanza.
        assert!(String::from_utf8(after)
            .unwrap()
            .contains("address 10.0.0.2/24\n\n# rccr-init"));
        let sourced = b"auto lo\nsource-directory /etc/network/interfaces.d\n";
        assert_eq!(
            with_dhcp(sourced, &wired(&["eth1"]), N),
            (sourced.to_vec(), vec![])
        );
        // A comment naming an interface is no stanza.
        let (_, added) = with_dhcp(b"# auto eth1\n", &wired(&["eth1"]), N);
        assert_eq!(added, ["eth1"]);
    }

    #[test]
    fn wifi_stanzas_start_wpa_supplicant_with_the_installed_configuration() {
        let add = [Dhcp {
            iface: "wlan0".into(),
            wifi: true,
        }];
        let (after, added) = with_dhcp(IMAGE.as_bytes(), &add, N);
        assert_eq!(added, ["wlan0"]);
        assert!(String::from_utf8(after).unwrap().ends_with(&format!(
            "auto wlan0\niface wlan0 inet dhcp\n\thostname {N}\n\tuse wifi\n\twifi-config-path {WPA_CONF}\n"
        )));
    }

    #[test]
    fn odd_interface_names_are_never_written() {
        for ok in ["eth0", "enp0s31f6", "eth0.100", "usb_1", "a"] {
            assert!(iface_name_ok(ok), "{ok}");
        }
        for bad in ["", "-x", "eth0;reboot", "eth 0", "abcdefghijklmnop", "é"] {
            assert!(!iface_name_ok(bad), "{bad}");
        }
    }
}
