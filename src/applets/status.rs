//! `rccr status`: what every node of the inventory is doing.
use super::Applet;
use crate::cli;
use crate::error::Error;
use argh::FromArgs;

pub const APPLET: Applet = Applet {
    command: "status",
    link: None,
    summary: "report reachability, key state and swarm role of every node",
    main,
};

/// Report, for each node of the inventory, whether it is reachable, which
/// key it accepts, its swarm role and its docker version.
#[derive(FromArgs)]
struct Args {}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let Args {} = cli::parse(cmd, args)?;
    Err(Error::NotImplemented)
}
