//! `rccr setup`: discover the nodes, rotate keys, write the inventory.
use super::Applet;
use crate::cli;
use crate::error::Error;
use argh::FromArgs;

pub const APPLET: Applet = Applet {
    command: "setup",
    link: None,
    summary: "find the cluster's nodes, replace the temporary key, write the inventory",
    main,
};

/// Find every RCCR node on the LAN, adopt the new ones with the temporary
/// key, rotate to the cluster key and write the Ansible inventory.
#[derive(FromArgs)]
struct Args {}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let Args {} = cli::parse(cmd, args)?;
    Err(Error::NotImplemented)
}
