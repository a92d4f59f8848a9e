//! `/etc/issue`, the text getty shows above the console login: what this
//! node is, how to reach it and how to check its host key.
//!
//! The addresses are the kernel's at the moment of writing: nothing waits
//! for DHCP. At boot `rccr-init` runs before `networking`, so the
//! `rccr-issue` service (`rccr-init --issue-only`, after `networking` and
//! `sshd`) writes it again once addresses and sshd's own keys exist. Under
//! `--root DIR` no addresses are listed: they would be this machine's.
//!
//! **One writer at a time.** Besides those two, udhcpc's hook
//! (image-builder/base/os/issue-hook.sh) runs `--issue-only` in the
//! background at each lease event, two interfaces' at once perhaps, or
//! while the service runs. Each write is a rename, so no banner is torn;
//! but of two runs, the one that renames last may be the one that read
//! the addresses first, and the banner would then show an address that
//! is gone, or miss one that came, until the next event. So each writer
//! holds [`ISSUE_LOCK`] from its first read to its rename: the banner
//! renamed last is the one read last.
use super::bootstatus::{self, BootStatus, Storage, World};
use super::{hostkeys, Ctx};
use crate::identity::Role;
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

pub const ETC_ISSUE: &str = "/etc/issue";
/// The lock the banner's writers take turns on (`flock`). In `/run`, a
/// tmpfs: nothing of it outlives the boot, and lbu never saves it.
pub const ISSUE_LOCK: &str = "/run/rccr-issue.lock";

/// The banner; `addrs` are `(interface, address, prefix)`, `keys` are
/// `(type, fingerprint)`, `status` what the boot status file says.
pub fn text(
    node: Role,
    hostname: &str,
    addrs: &[(String, Ipv4Addr, u8)],
    keys: &[(String, String)],
    status: &BootStatus,
) -> String {
    let role = match node {
        Role::Control => "control node",
        Role::Target => "target node",
    };
    // The name and interface names may be the node's files' word as they
    // are (`--issue-only` runs whatever /etc/hostname holds): getty would
    // print a control byte as it is.
    let mut s = format!("ReCyClusteR {role} {}\n\n", crate::print::name(hostname));
    if addrs.is_empty() {
        s.push_str("Addresses: none yet\n");
    }
    for (i, (ifname, ip, prefix)) in addrs.iter().enumerate() {
        let head = if i == 0 { "Addresses:" } else { "" };
        let ifname = crate::print::name(ifname);
        s.push_str(&format!("{head:<11}{ip}/{prefix} ({ifname})\n"));
    }
    if keys.is_empty() {
        s.push_str("SSH host keys: none yet\n");
    } else {
        s.push_str("SSH host keys:\n");
        for (kind, fp) in keys {
            s.push_str(&format!("  {kind:<8} {fp}\n"));
        }
    }
    match &status.storage {
        Storage::Unknown => {}
        Storage::Device(dev) => s.push_str(&format!(
            "Storage:   {dev} (RCCR): Docker's data survives reboots\n"
        )),
        Storage::None { reason } => s.push_str(&format!(
            "Storage:   NONE: Docker's data and packages added later are lost at reboot\n           ({reason})\n"
        )),
    }
    if let World::Missing { .. } = &status.world {
        s.push_str(&format!(
            "Packages:  NOT INSTALLED at boot: {} (out of RAM?)\n",
            status.world.to_string().trim_start_matches("missing ")
        ));
    }
    match node {
        Role::Control => s.push_str(
            "\nNext step: log in as root and run\n    rccr setup\nto find the targets and secure the cluster.\n",
        ),
        Role::Target => {
            s.push_str("\nThis node waits for the control node's 'rccr setup'.\n")
        }
    }
    s.push('\n');
    // getty reads backslash escapes in /etc/issue: print ours literally.
    s.replace('\\', "\\\\")
}

/// The kernel's IPv4 addresses, loopback left out (live system only).
fn addresses(ctx: &mut Ctx) -> Vec<(String, Ipv4Addr, u8)> {
    if !ctx.live {
        return Vec::new();
    }
    match crate::sys::interfaces() {
        Ok(ifaces) => ifaces
            .into_iter()
            .filter(|i| !i.loopback)
            .flat_map(|i| {
                let name = i.name;
                i.addrs.into_iter().map(move |(a, p)| (name.clone(), a, p))
            })
            .collect(),
        Err(e) => {
            ctx.problem(format_args!("cannot list addresses for {ETC_ISSUE}: {e}"));
            Vec::new()
        }
    }
}

/// The lock of [`ISSUE_LOCK`] (see the module doc), held while the file
/// is open; `None` in a dry run (nothing is written) or with no `/run` (a
/// root that is not a booted system). One that cannot be taken is
/// reported, and the banner written without it.
fn lock(ctx: &mut Ctx) -> Option<File> {
    let path = ctx.path(ISSUE_LOCK);
    if ctx.dry || !path.parent().is_some_and(|run| ctx.is_dir(run)) {
        return None;
    }
    let waiting = || {
        ctx.note(format_args!(
            "waiting for {}: another rccr-init run is writing the banner",
            path.display()
        ))
    };
    let open = |at: PathBuf| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(at)
    };
    let locked = ctx
        .resolve(&path, false)
        .and_then(open)
        .and_then(|file| crate::fsutil::lock_waiting(file, waiting));
    match locked {
        Ok(lock) => Some(lock),
        Err(e) => {
            ctx.problem(format_args!(
                "cannot lock {}: {e}; writing the banner without it",
                path.display()
            ));
            None
        }
    }
}

pub fn write(ctx: &mut Ctx, node: Role, hostname: &str) {
    // Held to the rename, dropped at the return.
    let _lock = lock(ctx);
    let addrs = addresses(ctx);
    crate::failpoint::reached("issue-addresses-read", "-");
    let keys = hostkeys::fingerprints(ctx);
    let body = text(node, hostname, &addrs, &keys, &bootstatus::read(ctx));
    let path = ctx.path(ETC_ISSUE);
    if !path.parent().is_some_and(|p| ctx.is_dir(p)) {
        return ctx.problem(format_args!("{}: no such directory", path.display()));
    }
    ctx.write_volatile(&path, body.as_bytes(), 0o644, "console banner");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_banner_names_the_next_step() {
        let addrs = vec![("eth0".to_string(), Ipv4Addr::new(10, 0, 0, 5), 24)];
        let keys = vec![("ED25519".to_string(), "SHA256:abc".to_string())];
        let t = text(
            Role::Control,
            "ReCyClusteR-Control-000001",
            &addrs,
            &keys,
            &BootStatus::default(),
        );
        assert_eq!(
            t,
            "ReCyClusteR control node ReCyClusteR-Control-000001\n\n\
             Addresses: 10.0.0.5/24 (eth0)\n\
             SSH host keys:\n  ED25519  SHA256:abc\n\n\
             Next step: log in as root and run\n    rccr setup\nto find the targets and secure the cluster.\n\n"
        );
    }

    #[test]
    fn target_banner_without_network_or_keys() {
        // A name is escaped as a name: no backslash, no control byte.
        let t = text(Role::Target, "a\\b\x1b", &[], &[], &BootStatus::default());
        assert!(t.starts_with("ReCyClusteR target node a?b?\n"), "{t}");
        assert!(t.contains("Addresses: none yet\n"));
        assert!(t.contains("SSH host keys: none yet\n"));
        assert!(!t.contains("rccr setup\n"));
        assert!(!t.contains("Storage") && !t.contains("Packages"), "{t}");
        // getty reads backslash escapes: the banner's own are doubled.
        let status = BootStatus {
            storage: Storage::None {
                reason: "a\\b".into(),
            },
            ..BootStatus::default()
        };
        let t = text(Role::Target, "n", &[], &[], &status);
        assert!(t.contains("           (a\\\\b)\n"), "{t}");
    }

    #[test]
    fn storage_and_missing_packages_are_said() {
        let status = BootStatus {
            storage: Storage::None {
                reason: "no filesystem labelled RCCR and no blank disk".into(),
            },
            world: World::from_missing(&["python3".into(), "py3-yaml".into()]),
        };
        let t = text(Role::Target, "n", &[], &[], &status);
        assert!(
            t.contains("Storage:   NONE: Docker's data and packages added later are lost at reboot\n           (no filesystem labelled RCCR and no blank disk)\n"),
            "{t}"
        );
        assert!(
            t.contains("Packages:  NOT INSTALLED at boot: python3 py3-yaml (out of RAM?)\n"),
            "{t}"
        );
        let on_disk = BootStatus {
            storage: Storage::Device("/dev/sda1".into()),
            world: World::Ok,
        };
        let t = text(Role::Target, "n", &[], &[], &on_disk);
        assert!(
            t.contains("Storage:   /dev/sda1 (RCCR): Docker's data survives reboots\n"),
            "{t}"
        );
        assert!(!t.contains("Packages"), "{t}");
    }
}
