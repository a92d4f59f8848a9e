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
//! `allow-*`, `mapping`, or as a bridge's port, a bond's member, a VLAN's
//! link: see [`MEMBER_OPTIONS`]) is left as it is: `iface eth1 inet
//! manual` keeps rccr-init off `eth1`. A file that includes others (`source`,
//! `source-directory`) is the user's own and gets nothing added. Stanzas
//! are only added, never removed: one for an interface gone since brings
//! nothing up, and `networking` starts when any interface comes up.
//!
//! **A port without a cable.** `networking` runs ifup on each interface in
//! turn, and ifupdown-ng's `dhcp` executor starts `udhcpc -b`, which tries
//! in the foreground before it goes to the background: Alpine's busybox
//! sends 15 discovers a second apart (its patch
//! `udhcpc-set-discover-timeout-to-1-and-retries-to-15`), so every wired
//! port without a cable held the boot for 15 seconds. So at boot rccr-init
//! first brings every wired interface up and waits, at most [`SETTLE`] and
//! only while one still has none, for their carrier
//! (`/sys/class/net/IFACE/carrier`). Every IPv4 DHCP stanza of a wired
//! interface that has no carrier then gets `udhcpc-opts` [`NO_CARRIER`]:
//! one discover, one second, then the background, where udhcpc keeps
//! trying (after `-A`, 20 seconds by default), so a cable plugged in later
//! still brings a lease. With a carrier, the line is taken out again and
//! udhcpc waits for its lease as before. A stanza with udhcpc options of
//! its own (`udhcpc-opts`, `dhcp-opts`) is left as it is. A carrier rccr-init
//! cannot read counts as present: the boot waits as it did.
//!
//! **Wi-Fi out of range.** ifupdown-ng's `wifi` executor starts
//! wpa_supplicant with `-B`, which returns before any association, and
//! its `dhcp` executor runs udhcpc right after: out of the network's range
//! (or with a wrong passphrase) those 15 seconds of discovers held
//! `networking` too. Its carrier cannot tell: before `networking`,
//! wpa_supplicant has not run, and in range the association takes some
//! seconds. So the Wi-Fi stanza always gets `udhcpc-opts` [`WIFI`]: the
//! one discover, three seconds, then the background, where udhcpc tries
//! again every 4 seconds instead of 20, so a network in range gives its
//! lease a few seconds after the association. Three, not one: busybox
//! udhcpc stops listening between its tries (`LISTEN_NONE` at
//! `leasefail`), so an offer has only `-T` seconds after its discover,
//! and servers that ping an address before they offer it (dnsmasq, ISC
//! dhcpd) may take over one.
//!
//! `rccr-init --hotplug IFACE` ([`super::hotplug`]) applies the same rule
//! ([`wired_dhcp`]) to the one interface it adds: an adapter without a
//! cable that appears during the boot, before `networking` has run its
//! `ifup` of every interface, would otherwise hold that for 15 seconds
//! too. It waits as the boot does, at most [`SETTLE`]: mdev's script runs
//! it in the background, so no other device event waits for it.
//!
//! The comment above a wired stanza was `# rccr-init: a wired interface
//! present at boot` before `--hotplug` wrote stanzas too; it is now
//! `# rccr-init: a wired interface`. Nothing reads these comments (a
//! stanza is known by the interface it names), so files with the old one
//! stay as they are and get nothing twice.
use super::hostname::{lines, stanzas, starts_stanza, words};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest rccr-init waits for the carrier of the wired links it
/// brought up (a gigabit link negotiates in one to three seconds).
pub const SETTLE: Duration = Duration::from_secs(3);
/// udhcpc's options on an interface without carrier at boot: one
/// discover, one second, then the background (ifupdown-ng passes `-b`).
pub const NO_CARRIER: &str = "-t 1 -T 1";
/// udhcpc's options on Wi-Fi, whose link has no carrier when udhcpc
/// starts (wpa_supplicant, started just before by the same ifup, is still
/// scanning and associating): one discover, three seconds to answer it
/// (udhcpc listens only then), then the background and a new discover
/// every 4 seconds (`-A 1`, not udhcpc's 20), so that a network in range
/// gives its lease seconds after the association, not 20.
pub const WIFI: &str = "-t 1 -T 3 -A 1";

/// Where the installed Wi-Fi configuration lives, as the stanza names it.
pub const WPA_CONF: &str = "/etc/wpa_supplicant/wpa_supplicant.conf";
/// The interface the kernel gives the first Wi-Fi device.
const FIRST_WIRELESS: &str = "wlan0";

/// An interface to bring up with DHCP, and whether it joins Wi-Fi first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp {
    pub iface: String,
    pub wifi: bool,
    /// A wired interface whose link had no carrier after the settle.
    pub no_carrier: bool,
}

impl Dhcp {
    /// The `udhcpc-opts` its DHCP stanza gets (see the module doc):
    /// [`WIFI`] on Wi-Fi, [`NO_CARRIER`] on a wired link without carrier,
    /// none on one with.
    fn udhcpc_opts(&self) -> Option<&'static str> {
        match (self.wifi, self.no_carrier) {
            (true, _) => Some(WIFI),
            (false, true) => Some(NO_CARRIER),
            (false, false) => None,
        }
    }
}

/// The stanzas this boot wants: the wired interfaces under `class_net`
/// ([`wired_dhcp`], which with `settle` brings them up and waits for their
/// carrier), and the wireless ones when `wifi` (a configuration is
/// installed).
pub fn at_boot(class_net: &Path, wifi: bool, settle: Option<&[u8]>) -> Vec<Dhcp> {
    let mut out = wired_dhcp(class_net, super::nic::wired(class_net), settle);
    if wifi {
        let mut wireless = super::nic::wireless(class_net);
        if wireless.is_empty() {
            wireless.push(FIRST_WIRELESS.to_string());
        }
        out.extend(wireless.into_iter().map(|iface| Dhcp {
            iface,
            wifi: true,
            no_carrier: false,
        }));
    }
    out.retain(|d| iface_name_ok(&d.iface));
    out
}

/// The stanzas of the wired interfaces `wired` (the boot's every one, or
/// the one `--hotplug` names), each with whether its link has a carrier.
/// With `settle` (the live system, not a dry run) the links that will get
/// DHCP (`interfaces`, the file now, names them nowhere else than in a
/// DHCP stanza) are brought up first and given up to [`SETTLE`] to find
/// their carrier, no longer than one still has none; `iface eth3 inet
/// manual` keeps eth3 as it is.
pub fn wired_dhcp(class_net: &Path, mut wired: Vec<String>, settle: Option<&[u8]>) -> Vec<Dhcp> {
    wired.retain(|i| iface_name_ok(i));
    if let Some(interfaces) = settle {
        let named = mentioned(interfaces);
        let lines = lines(interfaces);
        let dhcp = stanzas(&lines);
        let ours = |i: &String| {
            dhcp.iter().any(|st| st.dhcp && st.iface == i.as_bytes())
                || !named.iter().any(|n| n == i.as_bytes())
        };
        let wired: Vec<&String> = wired.iter().filter(|i| ours(i)).collect();
        for iface in &wired {
            if let Err(e) = link_up(iface) {
                eprintln!("rccr-init: cannot bring {iface} up: {e}");
            }
        }
        let start = Instant::now();
        while start.elapsed() < SETTLE && wired.iter().any(|i| !has_carrier(class_net, i)) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    wired
        .into_iter()
        .map(|iface| Dhcp {
            no_carrier: !has_carrier(class_net, &iface),
            iface,
            wifi: false,
        })
        .collect()
}

/// `ip link set dev NAME up` (busybox's `ip` on Alpine), NAME passed as
/// one argument, never through a shell.
fn link_up(name: &str) -> std::io::Result<()> {
    let status = std::process::Command::new("ip")
        .args(["link", "set", "dev", name, "up"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip link set dev {name} up: {status}"
        )))
    }
}

/// Whether `class_net/IFACE/carrier` says the link has a carrier; one that
/// cannot be read (the kernel refuses while the link is down) counts as
/// present, so that the boot waits for DHCP as it always did.
fn has_carrier(class_net: &Path, iface: &str) -> bool {
    match fs::read(class_net.join(iface).join("carrier")) {
        Ok(b) => b.trim_ascii() != b"0",
        Err(_) => true,
    }
}

/// `content` with the `udhcpc-opts` each interface of `dhcp` wants
/// ([`Dhcp::udhcpc_opts`]) in its IPv4 DHCP stanzas: [`NO_CARRIER`] on a
/// wired one without carrier, taken out again on one with, [`WIFI`] on
/// Wi-Fi (see the module doc). A stanza with a `udhcpc-opts` or
/// `dhcp-opts` other than ours is left alone. Every other byte is kept.
pub fn with_carrier_opts(content: &[u8], dhcp: &[Dhcp]) -> Vec<u8> {
    const KEY: &[u8] = b"udhcpc-opts";
    let lines = lines(content);
    let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    let mut inserts: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut removes: Vec<usize> = Vec::new();
    for st in stanzas(&lines).iter().filter(|s| s.dhcp) {
        let Some(d) = dhcp.iter().find(|d| d.iface.as_bytes() == st.iface) else {
            continue;
        };
        // Ours: the line holds one of our option sets, word for word.
        let ours = st.option(KEY).and_then(|i| {
            let ws = words(lines[i]);
            let rest: Vec<&[u8]> = ws[1..].iter().map(|&(s, e)| &lines[i][s..e]).collect();
            [NO_CARRIER, WIFI]
                .into_iter()
                .find(|o| rest == o.split(' ').map(str::as_bytes).collect::<Vec<_>>())
                .map(|o| (i, o))
        });
        // ifupdown-ng reads `udhcpc_opts` as `udhcpc-opts`.
        let theirs = ours.is_none()
            && [
                &b"udhcpc-opts"[..],
                b"udhcpc_opts",
                b"dhcp-opts",
                b"dhcp_opts",
            ]
            .iter()
            .any(|k| st.option(k).is_some());
        if theirs || ours.map(|(_, o)| o) == d.udhcpc_opts() {
            continue;
        }
        if let Some((i, _)) = ours {
            removes.push(i);
        }
        if let Some(want) = d.udhcpc_opts() {
            inserts.push(st.new_option(&mut out, &format!("udhcpc-opts {want}")));
        }
    }
    for i in removes.iter().rev() {
        out[*i].clear();
    }
    for (at, line) in inserts.into_iter().rev() {
        out.insert(at, line);
    }
    out.concat()
}

/// An interface name fit for interfaces(5) and the executors' shells:
/// letters, digits, `_`, `.`, `-`, at most 15 bytes (the kernel's limit),
/// not starting with `-`. The kernel allows more (`$`, `;`, ...).
pub fn iface_name_ok(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// mdev's configuration, which Alpine's `mdev-conf` package installs.
pub const MDEV_CONF: &str = "/etc/mdev.conf";
/// The hotplug script the image carries (`image-builder/base/os/net-hotplug.sh`).
pub const HOTPLUG: &str = "/usr/libexec/rccr/net-hotplug";

/// The mdev rule that runs [`HOTPLUG`] when a network interface appears
/// or goes (busybox `docs/mdev.txt`: `*` runs the command after creating
/// and before removing; the leading `-` lets mdev go on to the rules
/// after it). The command is a fixed path: the interface's name reaches
/// the script only in its environment (`INTERFACE`, `ACTION`), where the
/// script checks it before any use.
pub fn hotplug_rule() -> String {
    format!("-SUBSYSTEM=net;DEVPATH=.*/net/.*;.*\troot:root 600 *{HOTPLUG}")
}

/// `mdev.conf` with [`hotplug_rule`] first (mdev stops at the first rule
/// that matches, unless it starts with `-`: first, so no rule before it
/// ends the search), or `None` when it has the rule already.
pub fn mdev_conf_with_rule(content: &[u8]) -> Option<Vec<u8>> {
    let rule = hotplug_rule();
    if lines(content)
        .iter()
        .any(|l| l.trim_ascii() == rule.as_bytes())
    {
        return None;
    }
    let mut out = format!(
        "# rccr-init: DHCP on a wired interface plugged in after boot ({HOTPLUG})\n{rule}\n"
    )
    .into_bytes();
    out.extend_from_slice(content);
    Some(out)
}

/// Whether the file includes others, whose interfaces this one cannot see.
fn sources_others(content: &[u8]) -> bool {
    lines(content).iter().any(|line| {
        words(line)
            .first()
            .is_some_and(|&(s, e)| matches!(&line[s..e], b"source" | b"source-directory"))
    })
}

/// The options whose values name interfaces another one is made of or
/// needs (ifupdown-ng's and Debian's words, `_` read as `-`): a bridge's
/// ports, a bond's members, a VLAN's link. ifup must not run DHCP on them.
const MEMBER_OPTIONS: &[&[u8]] = &[
    b"bridge-ports",
    b"bond-slaves",
    b"bond-members",
    b"requires",
    b"vlan-raw-device",
    b"link",
];

/// Every interface a stanza of the file names, or an option of one
/// names as its part ([`MEMBER_OPTIONS`]).
fn mentioned(content: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in lines(content) {
        let ws = words(line);
        let Some(&(s, e)) = ws.first() else {
            continue;
        };
        let first = &line[s..e];
        let names = ws[1..].iter().map(|&(s, e)| line[s..e].to_vec());
        let option: Vec<u8> = first
            .iter()
            .map(|&b| if b == b'_' { b'-' } else { b })
            .collect();
        if MEMBER_OPTIONS.contains(&option.as_slice()) {
            out.extend(names.filter(|n| !matches!(n.as_slice(), b"none" | b"all")));
            continue;
        }
        if !starts_stanza(first) {
            continue;
        }
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
                "\n# rccr-init: a wired interface\nauto {i}\niface {i} inet dhcp\n\thostname {name}\n"
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
                no_carrier: false,
            })
            .collect()
    }

    /// The Wi-Fi interface, as [`at_boot`] lists it with a configuration.
    fn wlan0() -> [Dhcp; 1] {
        [Dhcp {
            iface: "wlan0".into(),
            wifi: true,
            no_carrier: false,
        }]
    }

    #[test]
    fn every_wired_interface_not_named_gets_dhcp_with_the_hostname() {
        let (after, added) = with_dhcp(IMAGE.as_bytes(), &wired(&["eth0", "eth1", "enp3s0"]), N);
        assert_eq!(added, ["eth1", "enp3s0"]);
        let text = String::from_utf8(after.clone()).unwrap();
        assert!(text.starts_with(IMAGE), "{text}");
        assert!(
            text.ends_with(&format!(
                "auto eth1\niface eth1 inet dhcp\n\thostname {N}\n\n# rccr-init: a wired interface\nauto enp3s0\niface enp3s0 inet dhcp\n\thostname {N}\n"
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
        // A stanza under the comment of older versions is known by its
        // interface, as any other.
        let old = format!("{IMAGE}\n# rccr-init: a wired interface present at boot\nauto eth1\niface eth1 inet dhcp\n\thostname {N}\n");
        let (after, added) = with_dhcp(old.as_bytes(), &wired(&["eth1"]), N);
        assert_eq!((after, added), (old.into_bytes(), vec![]));
        // A comment naming an interface is no stanza.
        let (_, added) = with_dhcp(b"# auto eth1\n", &wired(&["eth1"]), N);
        assert_eq!(added, ["eth1"]);
    }

    #[test]
    fn bridge_ports_bond_members_and_vlan_links_get_no_stanza_of_ours() {
        // ifup would run udhcpc on a port whose replies go to its bridge or
        // bond, and may then fail to enslave it.
        let user = b"auto br0\niface br0 inet dhcp\n\tbridge-ports eth1 eth6\niface br1 inet manual\n  bridge_ports none\nauto bond0\niface bond0 inet static\n  bond-slaves eth2\n  bond_members eth3\niface bond1 inet manual\n  bond-members eth7\niface vlan5 inet manual\n  vlan-raw-device eth4\niface x inet manual\n  requires eth8\n";
        let all = [
            "eth1", "eth2", "eth3", "eth4", "eth5", "eth6", "eth7", "eth8", "none",
        ];
        let (_, added) = with_dhcp(user, &wired(&all), N);
        assert_eq!(added, ["eth5", "none"]);
    }

    #[test]
    fn wifi_stanzas_start_wpa_supplicant_with_the_installed_configuration() {
        let (after, added) = with_dhcp(IMAGE.as_bytes(), &wlan0(), N);
        assert_eq!(added, ["wlan0"]);
        assert!(String::from_utf8(after).unwrap().ends_with(&format!(
            "auto wlan0\niface wlan0 inet dhcp\n\thostname {N}\n\tuse wifi\n\twifi-config-path {WPA_CONF}\n"
        )));
    }

    #[test]
    fn a_port_without_carrier_gets_dhcp_in_the_background_at_once() {
        let mut add = wired(&["eth0", "eth1", "eth2"]);
        add[0].no_carrier = true;
        add[2].no_carrier = true;
        // eth1 has a carrier; eth2's stanza has udhcpc options of its own.
        let file = format!("{IMAGE}iface eth1 inet dhcp\r\n\thostname x\r\niface eth2 inet dhcp\n  udhcpc_opts -t 3\n");
        let after = String::from_utf8(with_carrier_opts(file.as_bytes(), &add)).unwrap();
        let want = file.replace(
            "iface eth0 inet dhcp\n",
            &format!("iface eth0 inet dhcp\n\tudhcpc-opts {NO_CARRIER}\n"),
        );
        assert_eq!(after, want);
        assert_eq!(with_carrier_opts(after.as_bytes(), &add), after.as_bytes());
        // The cable is in at the next boot: the line goes, nothing else.
        assert_eq!(
            with_carrier_opts(after.as_bytes(), &wired(&["eth0", "eth1", "eth2"])),
            file.as_bytes()
        );
        // Interfaces not present are not touched.
        assert_eq!(
            with_carrier_opts(after.as_bytes(), &wired(&["eth9"])),
            after.as_bytes()
        );
    }

    #[test]
    fn wifi_gets_dhcp_in_the_background_at_once_and_tries_again_soon() {
        // ifupdown-ng's wifi executor starts wpa_supplicant with -B, which
        // returns before any association; udhcpc then tried 15 seconds in
        // the foreground, holding networking when the network is out of
        // range. The link's carrier is of no use: before networking,
        // wpa_supplicant has not run yet.
        let wlan0 = wlan0();
        let (file, _) = with_dhcp(IMAGE.as_bytes(), &wlan0, N);
        let after = String::from_utf8(with_carrier_opts(&file, &wlan0)).unwrap();
        assert!(
            after.ends_with(&format!(
                "iface wlan0 inet dhcp\n\tudhcpc-opts {WIFI}\n\thostname {N}\n\tuse wifi\n\twifi-config-path {WPA_CONF}\n"
            )),
            "{after}"
        );
        assert_eq!(
            with_carrier_opts(after.as_bytes(), &wlan0),
            after.as_bytes()
        );
        // An interface that was wired and is Wi-Fi now (or the other way)
        // gets the other line in place of ours; one of the user's, none.
        let wired_once = after.replace(WIFI, NO_CARRIER);
        assert_eq!(
            with_carrier_opts(wired_once.as_bytes(), &wlan0),
            after.as_bytes()
        );
        let theirs = after.replace(WIFI, "-t 5");
        assert_eq!(
            with_carrier_opts(theirs.as_bytes(), &wlan0),
            theirs.as_bytes()
        );
    }

    #[test]
    fn a_carrier_file_that_says_0_is_no_carrier_and_one_unread_is_one() {
        let dir = crate::fsutil::scratch::Dir::new("carrier");
        std::fs::create_dir_all(dir.join("eth0")).unwrap();
        std::fs::create_dir_all(dir.join("eth1")).unwrap();
        std::fs::write(dir.join("eth0/carrier"), "0\n").unwrap();
        std::fs::write(dir.join("eth1/carrier"), "1\n").unwrap();
        assert!(!has_carrier(&dir, "eth0"));
        assert!(has_carrier(&dir, "eth1"));
        assert!(has_carrier(&dir, "eth2"));
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
