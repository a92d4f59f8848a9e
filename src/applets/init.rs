//! `rccr-init`: first-boot preparation of a node, run by OpenRC.
use super::Applet;
use crate::cli;
use crate::error::Error;
use argh::FromArgs;

pub const APPLET: Applet = Applet {
    command: "init",
    link: Some("rccr-init"),
    summary: "prepare this node at boot: hostname, host keys, modes (run by OpenRC)",
    main,
};

/// Prepare this node at boot: unique hostname, SSH host keys, /root/.ssh
/// modes, the boot-partition file and the console banner.
#[derive(FromArgs)]
struct Args {}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let Args {} = cli::parse(cmd, args)?;
    Err(Error::NotImplemented)
}
