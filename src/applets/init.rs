//! `rccr-init`: first-boot preparation of a node, run by OpenRC.
use crate::cli;
use crate::error::Error;
use crate::init::{self, Options};
use argh::FromArgs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

applet! { APPLET = "init", Some("rccr-init"), main, "prepare this node at boot: hostname, host keys, storage, packages (run by OpenRC)" }

/// Prepare this node at boot: unique hostname (also sent by DHCP), SSH host
/// keys, /root/.ssh modes, the boot partition's rccr.txt, the packages of
/// /etc/apk/world and the console banner /etc/issue. Run by the OpenRC
/// service rccr-init before networking and sshd; rccr-storage runs
/// --storage earlier. Steps that cannot run are reported on stderr and
/// skipped: the exit code is 0 unless the arguments are wrong (2), a
/// --hostname is not a hostname or --root no directory (3), a non-root
/// user runs it on / (4), or
/// --hostname or --prepare-disk failed or was cancelled (1). A second run
/// changes nothing.
#[derive(FromArgs)]
#[argh(
    note = "Hostname: rccr.txt's hostname= wins, else /etc/hostname, unless either holds an image default\n(empty, localhost, ReCyClusteR-Control, ReCyClusteR-Target), else\nReCyClusteR-<Control|Target>-<last 3 MAC bytes of the first Ethernet interface>.\n\nrccr.txt (in /boot or /media/*): hostname=NAME and authorized_key=TYPE BASE64 [COMMENT]\nlines, # comments; applied once, then renamed rccr.txt.applied (.partial: a line was malformed).\n\nStorage (--storage): an ext4 filesystem labelled RCCR, mounted on /media/rccr, holds\n/var/lib/docker, /var/lib/rccr and the apk cache. Found on any disk; else made after the\nboot partition of a Pi's card, or on a completely blank disk (first 5 MiB and last MiB\nzeros). A disk with data is never written unless --prepare-disk names it.\nStatus: /run/rccr/status."
)]
struct Args {
    /// prepare the system under DIR instead of / (tests, mounted images):
    /// every path, /sys and /proc included, is taken under DIR, and the
    /// running system is left alone, except that --storage and
    /// --prepare-disk write the disks DIR/sys/block lists and mount under DIR
    #[argh(option, arg_name = "DIR", default = "PathBuf::from(\"/\")")]
    root: PathBuf,
    /// show what would change; change nothing
    #[argh(switch)]
    dry_run: bool,
    /// only rewrite /etc/issue (the rccr-issue service, once the network is up)
    #[argh(switch)]
    issue_only: bool,
    /// only give this node the hostname NAME everywhere (/etc/hostname,
    /// /etc/hosts, the kernel, DHCP), rewrite the banner and persist: how
    /// rccr setup renames a node; when lbu cannot save it, the old name is
    /// put back and the exit code is 1
    #[argh(option, arg_name = "NAME")]
    hostname: Option<String>,
    /// only find or prepare the persistent storage (a filesystem labelled
    /// RCCR) and mount it: the rccr-storage service, at boot
    #[argh(switch)]
    storage: bool,
    /// erase DEVICE (a whole disk, e.g. /dev/sdb) and prepare it as this
    /// node's RCCR storage, after you type its path; used from the next boot
    #[argh(option, arg_name = "DEVICE")]
    prepare_disk: Option<String>,
    /// only add the DHCP stanza of IFACE, a wired interface that appeared
    /// after the boot run listed them (mdev runs this through
    /// /usr/libexec/rccr/net-hotplug), in the background at once when its
    /// link finds no carrier within 3 s, as at boot; waits while another
    /// rccr-init run changes /etc/network
    #[argh(option, arg_name = "IFACE")]
    hotplug: Option<String>,
    /// with --prepare-disk: do not ask
    #[argh(switch)]
    yes: bool,
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: Args = cli::parse(cmd, args)?;
    if !args.root.is_dir() {
        return Err(Error::bad_input(
            format!("--root {}", args.root.display()),
            "not a directory: name the root of the system to prepare",
        ));
    }
    let live = args
        .root
        .canonicalize()
        .is_ok_and(|p| p == std::path::Path::new("/"));
    // /proc/self belongs to the effective user: a safe geteuid().
    let euid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    if live && !args.dry_run && euid != 0 {
        return Err(Error::Permission(
            "run as root: rccr-init changes /etc and the hostname (--dry-run shows what it would do)"
                .into(),
        ));
    }
    let modes = [
        args.issue_only,
        args.hostname.is_some(),
        args.storage,
        args.prepare_disk.is_some(),
        args.hotplug.is_some(),
    ];
    if modes.iter().filter(|m| **m).count() > 1 {
        return Err(cli::usage(
            cmd,
            "--issue-only, --hostname, --storage, --prepare-disk and --hotplug go alone",
        ));
    }
    if let Some(iface) = &args.hotplug {
        if !init::network::iface_name_ok(iface) {
            return Err(Error::bad_input(
                format!("--hotplug {}", crate::print::name(iface)),
                "not an interface name rccr-init configures: letters, digits, _ . -, at most 15 bytes",
            ));
        }
    }
    if args.yes && args.prepare_disk.is_none() {
        return Err(cli::usage(cmd, "--yes goes with --prepare-disk"));
    }
    if let Some(name) = &args.hostname {
        crate::identity::check_hostname(name)
            .map_err(|e| Error::bad_input(format!("--hostname {name}"), format!("it {e}")))?;
        // The next boot would replace it with a generated name.
        if crate::identity::is_image_default(name) {
            return Err(Error::bad_input(
                format!("--hostname {name}"),
                init::hostname::IMAGE_DEFAULT_REFUSED,
            ));
        }
    }
    let opts = Options {
        root: args.root,
        dry_run: args.dry_run,
        issue_only: args.issue_only,
        storage_only: args.storage,
    };
    if let Some(device) = &args.prepare_disk {
        // Its usage errors name the device, not the command: add it.
        return init::prepare_disk(&opts, device, args.yes).map_err(|e| match e {
            Error::Usage(msg) => cli::usage(cmd, &msg),
            e => e,
        });
    }
    if let Some(iface) = &args.hotplug {
        init::hotplug(&opts, iface);
        return Ok(());
    }
    match &args.hostname {
        Some(name) => init::rename(&opts, name),
        None => {
            init::run(&opts);
            Ok(())
        }
    }
}
