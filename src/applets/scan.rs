//! `rccr-scan`: find the cluster's machines on the LAN.
use super::Applet;
use crate::cli;
use crate::error::Error;
use argh::FromArgs;

pub const APPLET: Applet = Applet {
    command: "scan",
    link: Some("rccr-scan"),
    summary: "find the machines on the LAN whose hostname contains the filter",
    main,
};

/// Sweep the LAN with ARP and ICMP, name every live host and show those
/// whose hostname contains the filter (default ReCyClusteR).
#[derive(FromArgs)]
struct Args {}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let Args {} = cli::parse(cmd, args)?;
    Err(Error::NotImplemented)
}
