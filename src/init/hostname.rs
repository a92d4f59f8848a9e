//! The node's hostname: which one, and every place it must appear.
//!
//! **Which name.** In order:
//!
//! 1. `hostname=` from the boot-partition file, when valid;
//! 2. else the *configured* name: the first line of `/etc/hostname`,
//!    trimmed, when it is a DNS name (anything else is reported and
//!    replaced: it would reach `/etc/hosts` and ifup's shell), unless it is
//!    one of the image defaults
//!    ([`crate::identity::IMAGE_DEFAULT_NAMES`]: empty, `localhost`,
//!    `localhost.localdomain`, `(none)`, `ReCyClusteR-Control`,
//!    `ReCyClusteR-Target`, any case). A name written
//!    by an earlier run counts as configured, which keeps it stable;
//! 3. else `ReCyClusteR-<Control|Target>-<xxxxxx>`, the last three bytes of
//!    the first Ethernet interface's MAC (see [`super::nic`]) in lowercase
//!    hex; without any interface, three random bytes (kept from then on,
//!    like any written name).
//!
//! **Where it goes.** `/etc/hostname` (`NAME\n`, only when its first line
//! differs); `/etc/hosts` (see [`hosts_with_name`]); the running kernel
//! (`/proc/sys/kernel/hostname`, else `hostname NAME`); and a `hostname NAME`
//! option in every DHCP stanza of `/etc/network/interfaces` (see
//! [`interfaces_with_hostname`]), which makes udhcpc send it to the DHCP
//! server, so the LAN's DNS knows the node by it. At boot, the DHCP
//! stanzas [`network`] wants are added in the same write.
//!
//! **One run at a time.** The boot run, a `--hotplug` run (mdev, for an
//! interface that appears, possibly while the boot run is under way) and
//! a `--hostname` run each read these files and write them back: each
//! holds the lock of `/etc/network` ([`NETWORK_DIR`], `flock` on the
//! directory, as the interfaces file is replaced by rename) from its
//! first read to its last write, so none loses what another wrote.
use super::network::{self, Dhcp};
use super::{nic, Ctx};
use crate::identity::{self, generated_name, is_image_default, mac_tail, Role, NAME_PREFIX};
use std::fs;
use std::process::Command;

pub const ETC_HOSTNAME: &str = "/etc/hostname";
pub const ETC_HOSTS: &str = "/etc/hosts";
pub const INTERFACES: &str = "/etc/network/interfaces";
/// The directory of [`INTERFACES`], whose lock [`apply`] holds.
pub const NETWORK_DIR: &str = "/etc/network";
pub const KERNEL_HOSTNAME: &str = "/proc/sys/kernel/hostname";
pub const CLASS_NET: &str = "/sys/class/net";
/// The hostname rule ([`identity::check_hostname`]), worded for `name`.
pub fn check(name: &str) -> Result<(), String> {
    identity::check_hostname(name).map_err(|e| format!("{} {e}", super::bootfile::quoted(name)))
}

/// Why a name a user chooses (`--hostname`, `rccr.txt`'s `hostname=`)
/// may not be an image default: the next boot would replace it.
pub const IMAGE_DEFAULT_REFUSED: &str =
    "a name the images ship with, which a node gives up at its next boot; pick a name of your own";

/// [`check`], and no image default: a name a user chooses for the node.
pub fn check_chosen(name: &str) -> Result<(), String> {
    check(name)?;
    if is_image_default(name) {
        return Err(format!(
            "{} is {IMAGE_DEFAULT_REFUSED}",
            super::bootfile::quoted(name)
        ));
    }
    Ok(())
}

/// `ReCyClusteR-Target-4c0001` for MAC `..:..:..:4c:00:01`.
fn generated(node: Role, tail: [u8; 3]) -> String {
    generated_name(NAME_PREFIX, node, tail)
}

/// [`CLASS_NET`] as the node finds it ([`Ctx::resolve`]), to list the
/// interfaces in; under `--root` one that does not resolve inside the
/// root is an empty path, which lists none.
pub fn interfaces_dir(ctx: &Ctx) -> std::path::PathBuf {
    ctx.resolve(&ctx.path(CLASS_NET), true).unwrap_or_default()
}

/// The first line of a hostname file, trimmed.
pub fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().next().unwrap_or("").trim().to_string()
}

/// The name the node has now: `/etc/hostname`, else the running one.
pub fn current(ctx: &Ctx) -> String {
    let from_file = ctx
        .read(&ctx.path(ETC_HOSTNAME))
        .map(|b| first_line(&b))
        .unwrap_or_default();
    if !from_file.is_empty() {
        return from_file;
    }
    ctx.read(&ctx.path(KERNEL_HOSTNAME))
        .map(|b| first_line(&b))
        .unwrap_or_default()
}

/// Decides the hostname and writes it everywhere; `add` are the DHCP
/// stanzas this boot wants in `/etc/network/interfaces` ([`network`]),
/// none for a rename. Returns the name, and whether `/etc/hostname` now
/// holds it. Holds the lock of [`NETWORK_DIR`] throughout.
pub fn apply(ctx: &mut Ctx, node: Role, wanted: Option<&str>, add: &[Dhcp]) -> (String, bool) {
    let _lock = lock_network(ctx);
    let etc_path = ctx.path(ETC_HOSTNAME);
    let etc = match ctx.read_optional(&etc_path) {
        Ok(b) => first_line(&b.unwrap_or_default()),
        Err(e) => {
            ctx.problem(format_args!("cannot read {}: {e}", etc_path.display()));
            String::new()
        }
    };
    let kernel_path = ctx.path(KERNEL_HOSTNAME);
    let running = ctx.read(&kernel_path).map(|b| first_line(&b)).ok();

    let name = if let Some(w) = wanted {
        w.to_string()
    } else if !is_image_default(&etc) && configured_name_ok(ctx, &etc) {
        etc.clone()
    } else {
        let class_net = ctx.path(CLASS_NET);
        match nic::first_ethernet(&interfaces_dir(ctx)) {
            Some(n) => {
                let name = generated(node, mac_tail(n.mac));
                if name != etc {
                    ctx.note(format_args!(
                        "hostname {name} from {}'s MAC address",
                        crate::print::name(&n.name)
                    ));
                }
                name
            }
            None => {
                let mut tail = [0u8; 3];
                if let Err(e) = getrandom::getrandom(&mut tail) {
                    ctx.problem(format_args!("no randomness ({e}); hostname suffix 000000"));
                }
                ctx.problem(format_args!(
                    "no Ethernet interface in {}: random hostname suffix",
                    class_net.display()
                ));
                generated(node, tail)
            }
        }
    };
    if !identity::name_matches(&name, NAME_PREFIX) {
        ctx.note(format_args!(
            "hostname {name} does not contain 'ReCyClusteR' (the default hostname_filter): rccr \
             setup leaves this node alone as foreign unless cluster_config.yml's nodes: pins its \
             MAC with this hostname"
        ));
    }

    let etc_ok = etc == name
        || ctx.write_file(
            &etc_path,
            format!("{name}\n").as_bytes(),
            0o644,
            &format!(
                "{name} (was {})",
                if etc.is_empty() {
                    "empty".into()
                } else {
                    crate::print::name(&etc)
                }
            ),
        );

    // /etc/hosts: the old names are the ones this name replaces.
    let old: Vec<&str> = [etc.as_str(), running.as_deref().unwrap_or("")]
        .into_iter()
        .filter(|o| !o.is_empty() && !o.eq_ignore_ascii_case(&name) && !o.starts_with("localhost"))
        .collect();
    let hosts_path = ctx.path(ETC_HOSTS);
    match ctx.read_optional(&hosts_path) {
        Ok(content) => {
            let content = content.unwrap_or_default();
            let new = hosts_with_name(&content, &name, &old);
            if new != content {
                ctx.write_file(
                    &hosts_path,
                    &new,
                    0o644,
                    &format!("{name} resolves locally"),
                );
            }
        }
        Err(e) => ctx.problem(format_args!("cannot read {}: {e}", hosts_path.display())),
    }

    set_running(ctx, &name, running.as_deref());

    let if_path = ctx.path(INTERFACES);
    match ctx.read_optional(&if_path) {
        Ok(Some(content)) => {
            let (with_added, added) = network::with_dhcp(&content, add, &name);
            let new = interfaces_with_hostname(&with_added, &name);
            let new = network::with_carrier_opts(&new, add);
            if new != content {
                let mut what = match added.as_slice() {
                    [] => format!("DHCP sends hostname {name}"),
                    _ => format!("DHCP on {} too, sending hostname {name}", added.join(", ")),
                };
                let unplugged: Vec<&str> = add
                    .iter()
                    .filter(|d| d.no_carrier)
                    .map(|d| d.iface.as_str())
                    .collect();
                if !unplugged.is_empty() {
                    what.push_str(&format!(
                        "; no carrier on {}: DHCP there goes to the background at once",
                        unplugged.join(", ")
                    ));
                }
                ctx.write_file(&if_path, &new, 0o644, &what);
            }
        }
        Ok(None) => {}
        Err(e) => ctx.problem(format_args!("cannot read {}: {e}", if_path.display())),
    }
    (name, etc_ok)
}

/// The lock of [`NETWORK_DIR`] (see the module doc), held while the file
/// is open; `None` when there is no such directory (no interfaces file
/// to guard) or it cannot be locked, which is reported and not fatal.
fn lock_network(ctx: &mut Ctx) -> Option<fs::File> {
    let dir = ctx.path(NETWORK_DIR);
    let Ok(real) = ctx.resolve(&dir, true) else {
        return None;
    };
    if !real.is_dir() {
        return None;
    }
    let waiting = || {
        ctx.note(format_args!(
            "waiting for {}: another rccr-init run is changing the network configuration",
            dir.display()
        ))
    };
    match crate::fsutil::lock_dir(&real, waiting) {
        Ok(lock) => Some(lock),
        Err(e) => {
            ctx.problem(format_args!(
                "cannot lock {}: {e}; going on without the lock",
                dir.display()
            ));
            None
        }
    }
}

/// Whether `/etc/hostname`'s name may be kept: a DNS name
/// ([`identity::check_dns_name`]: letters, digits, hyphens, dots). Anything
/// else (a space, a `;`, a control byte) would be copied into `/etc/hosts`
/// and into `/etc/network/interfaces`, whose `hostname` option ifup hands
/// to udhcpc through a shell: it is replaced, like an image default.
fn configured_name_ok(ctx: &mut Ctx, etc: &str) -> bool {
    let Err(e) = identity::check_dns_name(etc) else {
        return true;
    };
    ctx.problem(format_args!(
        "{}: '{}' {e}: not kept",
        ctx.path(ETC_HOSTNAME).display(),
        crate::print::name(etc)
    ));
    false
}

/// The running hostname. On `/`: the kernel's (UTS namespace's), through
/// `/proc/sys/kernel/hostname`, else `hostname NAME`. Under another root:
/// `ROOT/proc/sys/kernel/hostname` when it is a regular file (tests).
fn set_running(ctx: &mut Ctx, name: &str, running: Option<&str>) {
    if running == Some(name) {
        return;
    }
    let path = ctx.path(KERNEL_HOSTNAME);
    let was = crate::print::name(running.unwrap_or("unknown"));
    let what = format!("running hostname {name} (was {was})");
    if !ctx.live {
        let at = ctx.resolve(&path, false);
        if at.and_then(fs::symlink_metadata).is_ok_and(|m| m.is_file()) {
            ctx.write_volatile(&path, format!("{name}\n").as_bytes(), 0o644, &what);
        }
        return;
    }
    if ctx.dry {
        return ctx.changed(what);
    }
    let proc_err = match fs::write(&path, name) {
        Ok(()) => return ctx.changed(what),
        Err(e) => e,
    };
    match Command::new("hostname").arg(name).status() {
        Ok(s) if s.success() => ctx.changed(what),
        Ok(s) => ctx.problem(format_args!(
            "cannot set the running hostname: {}: {proc_err}; hostname {name}: {s}",
            path.display()
        )),
        Err(e) => ctx.problem(format_args!(
            "cannot set the running hostname: {}: {proc_err}; hostname: {e}",
            path.display()
        )),
    }
}

/// Lines with their `\n`, so joining them gives the input back.
pub(super) fn lines(content: &[u8]) -> Vec<&[u8]> {
    content.split_inclusive(|b| *b == b'\n').collect()
}

/// `(start, end)` of each whitespace-separated word before any `#`.
pub(super) fn words(line: &[u8]) -> Vec<(usize, usize)> {
    let body = line.iter().position(|b| *b == b'#').unwrap_or(line.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < body {
        if line[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < body && !line[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push((start, i));
    }
    out
}

/// `/etc/hosts` naming this host `name`; every other byte kept:
///
/// 1. on each line, the first name equal to an old name becomes `name`
///    (Alpine's `127.0.0.1 ReCyClusteR-Target localhost` keeps its shape);
/// 2. if no line names `name` then, the names of the first `127.0.1.1` line
///    (Debian's) are replaced by `name`;
/// 3. if there is no such line, `127.0.1.1<TAB>name` is appended.
pub fn hosts_with_name(content: &[u8], name: &str, old: &[&str]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = lines(content).into_iter().map(<[u8]>::to_vec).collect();
    let is = |w: &[u8], n: &str| w.eq_ignore_ascii_case(n.as_bytes());
    for line in &mut lines {
        let ws = words(line);
        let hit = ws
            .iter()
            .skip(1)
            .find(|(s, e)| old.iter().any(|o| is(&line[*s..*e], o)));
        if let Some(&(s, e)) = hit {
            line.splice(s..e, name.bytes());
        }
    }
    let named = lines
        .iter()
        .any(|l| words(l).iter().skip(1).any(|(s, e)| is(&l[*s..*e], name)));
    if !named {
        let loopback = lines.iter_mut().find(|l| {
            words(l)
                .first()
                .is_some_and(|(s, e)| &l[*s..*e] == b"127.0.1.1")
        });
        match loopback {
            Some(line) => {
                let ws = words(line);
                match (ws.get(1), ws.last()) {
                    (Some(&(s, _)), Some(&(_, e))) => {
                        line.splice(s..e, name.bytes());
                    }
                    _ => {
                        let at = ws[0].1;
                        line.splice(at..at, format!("\t{name}").bytes());
                    }
                }
            }
            None => {
                if lines.last().is_some_and(|l| !l.ends_with(b"\n")) {
                    lines.last_mut().unwrap().push(b'\n');
                }
                lines.push(format!("127.0.1.1\t{name}\n").into_bytes());
            }
        }
    }
    lines.concat()
}

/// Whether an interfaces(5) line starts a new stanza.
pub(super) fn starts_stanza(word: &[u8]) -> bool {
    matches!(
        word,
        b"iface"
            | b"interface"
            | b"auto"
            | b"mapping"
            | b"source"
            | b"source-directory"
            | b"template"
    ) || word.starts_with(b"allow-")
}

/// `/etc/network/interfaces` with a `hostname NAME` option in every IPv4
/// DHCP stanza (`iface X inet dhcp`, or ifupdown-ng's `iface X dhcp`,
/// `interface X ...` and `iface X` with `use dhcp`; ifupdown-ng and busybox
/// ifup both hand the option to udhcpc as `-x hostname:NAME`): an existing `hostname` option gets the new value, otherwise
/// the option goes right after the `iface` line, indented like the stanza's
/// first option (a tab if it has none). Every other byte is kept.
pub fn interfaces_with_hostname(content: &[u8], name: &str) -> Vec<u8> {
    let lines = lines(content);
    let mut out: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    let mut inserts: Vec<(usize, Vec<u8>)> = Vec::new();
    for st in stanzas(&lines).iter().filter(|s| s.dhcp) {
        match st.option(b"hostname") {
            Some(i) => {
                let line = &mut out[i];
                let ws = words(line);
                match ws.get(1) {
                    Some(&(s, e)) if &line[s..e] == name.as_bytes() => {}
                    Some(&(s, e)) => {
                        line.splice(s..e, name.bytes());
                    }
                    None => {
                        let at = ws[0].1;
                        line.splice(at..at, format!(" {name}").bytes());
                    }
                }
            }
            None => inserts.push(st.new_option(&mut out, &format!("hostname {name}"))),
        }
    }
    for (at, line) in inserts.into_iter().rev() {
        out.insert(at, line);
    }
    out.concat()
}

/// One `iface` / `interface` stanza of an interfaces(5) file.
pub(super) struct Stanza {
    /// The index of its `iface` line.
    pub header: usize,
    /// The interface it configures.
    pub iface: Vec<u8>,
    /// IPv4 DHCP: `iface X inet dhcp`, or ifupdown-ng's `iface X dhcp`,
    /// `interface X ...` and `iface X` with `use dhcp`.
    pub dhcp: bool,
    /// The indent of its first option.
    indent: Option<Vec<u8>>,
    /// Each option's first word and line index.
    options: Vec<(Vec<u8>, usize)>,
}

impl Stanza {
    /// The line index of the first option named `key`.
    pub fn option(&self, key: &[u8]) -> Option<usize> {
        self.options.iter().find(|(k, _)| k == key).map(|&(_, i)| i)
    }

    /// Where and what to insert for a new option line `text`: right after
    /// the `iface` line, indented like the stanza's first option (a tab if
    /// it has none), with the header's line ending (one is added to a
    /// header that has none).
    pub fn new_option(&self, out: &mut [Vec<u8>], text: &str) -> (usize, Vec<u8>) {
        let header = &mut out[self.header];
        let eol: &[u8] = if header.ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        if !header.ends_with(b"\n") {
            header.extend_from_slice(eol);
        }
        let mut line = self.indent.clone().unwrap_or_else(|| b"\t".to_vec());
        line.extend_from_slice(text.as_bytes());
        line.extend_from_slice(eol);
        (self.header + 1, line)
    }
}

/// The `iface` / `interface` stanzas of the file split into `lines`.
pub(super) fn stanzas(lines: &[&[u8]]) -> Vec<Stanza> {
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut current: Option<Stanza> = None;
    for (i, line) in lines.iter().enumerate() {
        let ws = words(line);
        let Some(&(s, e)) = ws.first() else {
            continue; // blank or comment
        };
        let first = &line[s..e];
        if starts_stanza(first) {
            stanzas.extend(current.take());
            if first == b"iface" || first == b"interface" {
                // `iface eth0 inet dhcp`; ifupdown-ng also takes `dhcp`
                // anywhere on the line (`interface eth0 dhcp`).
                let header: Vec<&[u8]> = ws.iter().skip(2).map(|&(s, e)| &line[s..e]).collect();
                current = Some(Stanza {
                    header: i,
                    iface: ws.get(1).map_or(Vec::new(), |&(s, e)| line[s..e].to_vec()),
                    dhcp: header.contains(&&b"dhcp"[..]) && !header.contains(&&b"inet6"[..]),
                    indent: None,
                    options: Vec::new(),
                });
            }
            continue;
        }
        if let Some(st) = current.as_mut() {
            if st.indent.is_none() && s > 0 {
                st.indent = Some(line[..s].to_vec());
            }
            let second = ws.get(1).map(|&(s, e)| &line[s..e]);
            if first == b"use" && second == Some(b"dhcp") {
                st.dhcp = true;
            }
            st.options.push((first.to_vec(), i));
        }
    }
    stanzas.extend(current);
    stanzas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_use_the_mac_tail_in_lowercase() {
        assert_eq!(
            generated(Role::Control, [0xAB, 0x0c, 0x01]),
            "ReCyClusteR-Control-ab0c01"
        );
        assert_eq!(first_line(b"  name \nother\n"), "name");
        assert_eq!(first_line(b""), "");
    }

    const N: &str = "ReCyClusteR-Target-4c0001";

    /// `hosts` once it names N (`old`: the names it replaces), as text.
    fn hosts_naming_n(hosts: &[u8], old: &[&str]) -> String {
        String::from_utf8(hosts_with_name(hosts, N, old)).unwrap()
    }

    #[test]
    fn hosts_debian_style_line_is_replaced() {
        let before =
            b"127.0.0.1\tlocalhost\n127.0.1.1\tReCyClusteR-Target\n# keep\n::1 localhost\n";
        let after = hosts_naming_n(before, &["ReCyClusteR-Target"]);
        assert_eq!(
            after,
            format!("127.0.0.1\tlocalhost\n127.0.1.1\t{N}\n# keep\n::1 localhost\n")
        );
        assert_eq!(hosts_naming_n(after.as_bytes(), &[]), after);
        // A 127.0.1.1 line naming someone else entirely.
        let other = b"127.0.1.1 old.example.org old # x\r\n";
        assert_eq!(hosts_naming_n(other, &[]), format!("127.0.1.1 {N} # x\r\n"));
    }

    #[test]
    fn hosts_alpine_style_keeps_its_shape() {
        let before =
            b"127.0.0.1  ReCyClusteR-Target localhost.localdomain localhost\n::1\t\tlocalhost\n";
        assert_eq!(
            hosts_naming_n(before, &["ReCyClusteR-Target"]),
            format!("127.0.0.1  {N} localhost.localdomain localhost\n::1\t\tlocalhost\n")
        );
    }

    #[test]
    fn hosts_without_a_line_gets_one_appended() {
        assert_eq!(
            hosts_naming_n(b"127.0.0.1 localhost", &[]),
            format!("127.0.0.1 localhost\n127.0.1.1\t{N}\n")
        );
        assert_eq!(hosts_naming_n(b"", &[]), format!("127.0.1.1\t{N}\n"));
        // A comment mentioning the name does not count.
        let commented = format!("127.0.0.1 localhost # {N}\n");
        assert!(hosts_naming_n(commented.as_bytes(), &[]).ends_with(&format!("127.0.1.1\t{N}\n")));
        assert_eq!(
            hosts_naming_n(b"127.0.1.1\n", &[]),
            format!("127.0.1.1\t{N}\n")
        );
    }

    #[test]
    fn dhcp_stanzas_get_the_hostname_option_and_nothing_else_changes() {
        let before = "# network\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    udhcpc_opts -t 3\n\niface eth1 inet static\n\taddress 10.0.0.2/24\n";
        let after = interfaces_with_hostname(before.as_bytes(), N);
        let want = format!("# network\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    hostname {N}\n    udhcpc_opts -t 3\n\niface eth1 inet static\n\taddress 10.0.0.2/24\n");
        assert_eq!(String::from_utf8(after.clone()).unwrap(), want);
        assert_eq!(interfaces_with_hostname(&after, N), after);
    }

    #[test]
    fn an_existing_hostname_option_is_updated_in_place() {
        let before =
            b"auto eth0\r\niface eth0 inet dhcp\r\n\thostname   ReCyClusteR-Target\r\n\t# c\r\n";
        let after = interfaces_with_hostname(before, N);
        assert_eq!(
            after,
            format!("auto eth0\r\niface eth0 inet dhcp\r\n\thostname   {N}\r\n\t# c\r\n")
                .as_bytes()
        );
        let bare = b"iface eth0 inet dhcp\n hostname\n";
        assert_eq!(
            interfaces_with_hostname(bare, N),
            format!("iface eth0 inet dhcp\n hostname {N}\n").as_bytes()
        );
    }

    #[test]
    fn ifupdown_ng_use_dhcp_and_a_last_line_without_newline() {
        let ng = b"iface wlan0\n  use dhcp\n  wpa-ssid x\niface eth0 inet dhcp";
        let after = interfaces_with_hostname(ng, N);
        assert_eq!(
            String::from_utf8(after).unwrap(),
            format!("iface wlan0\n  hostname {N}\n  use dhcp\n  wpa-ssid x\niface eth0 inet dhcp\n\thostname {N}\n")
        );
        let alias = b"interface eth0 dhcp\n";
        assert_eq!(
            interfaces_with_hostname(alias, N),
            format!("interface eth0 dhcp\n\thostname {N}\n").as_bytes()
        );
        // inet6 dhcp and static stanzas are left alone.
        let v6 = b"iface eth0 inet6 dhcp\niface eth1 inet static\n";
        assert_eq!(interfaces_with_hostname(v6, N), v6);
    }
}
