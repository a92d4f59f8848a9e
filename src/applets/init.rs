//! `rccr-init`: first-boot preparation of a node, run by OpenRC.
use super::Applet;
use crate::cli;
use crate::error::Error;
use crate::init::{self, Options};
use argh::FromArgs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub const APPLET: Applet = Applet {
    command: "init",
    link: Some("rccr-init"),
    summary: "prepare this node at boot: hostname, host keys, modes (run by OpenRC)",
    main,
};

/// Prepare this node at boot: unique hostname (also sent by DHCP), SSH host
/// keys, /root/.ssh modes, the boot partition's rccr.txt and the console
/// banner /etc/issue. Run by the OpenRC service rccr-init before networking
/// and sshd. Steps that cannot run are reported on stderr and skipped: the
/// exit code is 0 unless the arguments are wrong (2), a --hostname is not a
/// hostname (3), a non-root user runs it on / (4), or --hostname could not
/// be set everywhere (1). A second run changes nothing.
#[derive(FromArgs)]
#[argh(
    note = "Hostname: rccr.txt's hostname= wins, else /etc/hostname unless it holds an image default\n(empty, localhost, ReCyClusteR-Control, ReCyClusteR-Target), else\nReCyClusteR-<Control|Target>-<last 3 MAC bytes of the first Ethernet interface>.\n\nrccr.txt (in /boot or /media/*): hostname=NAME and authorized_key=TYPE BASE64 [COMMENT]\nlines, # comments; applied once, then renamed rccr.txt.applied."
)]
struct Args {
    /// prepare the system under DIR instead of / (tests, mounted images):
    /// every path, /sys and /proc included, is taken under DIR, and the
    /// running system is left alone
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
    /// rccr setup renames a node
    #[argh(option, arg_name = "NAME")]
    hostname: Option<String>,
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: Args = cli::parse(cmd, args)?;
    if !args.root.is_dir() {
        return Err(Error::Usage(format!(
            "--root {}: not a directory",
            args.root.display()
        )));
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
    if let Some(name) = &args.hostname {
        crate::identity::check_hostname(name)
            .map_err(|e| Error::bad_input(format!("--hostname {name}"), format!("it {e}")))?;
    }
    let opts = Options {
        root: args.root,
        dry_run: args.dry_run,
        issue_only: args.issue_only,
    };
    match &args.hostname {
        Some(name) if !init::rename(&opts, name) => Err(Error::Failed(format!(
            "cannot write hostname {name} to /etc/hostname (see above)"
        ))),
        Some(_) => Ok(()),
        None => {
            init::run(&opts);
            Ok(())
        }
    }
}
