//! `rccr remove`: a node leaves the cluster for good.
use super::Applet;
use crate::cli;
use crate::error::Error;
use crate::keys::control::journal;
use crate::state::{inventory, Lock, StatePaths};
use crate::swarm::remove;
use argh::FromArgs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const APPLET: Applet = Applet {
    command: "remove",
    link: None,
    summary: "take nodes out of the cluster: swarm, inventory (and --release: the cluster key)",
    main,
};

cli::options! {
    /// Take nodes out of the cluster for good: a manager is replaced first (the
    /// fittest worker is promoted, then it is demoted, so quorum holds), the
    /// node is drained, leaves the swarm, and leaves the swarm's node list and
    /// the inventory. Exit 0 when every node left cleanly, 1 otherwise (it has
    /// left the inventory all the same), 3 for a node the inventory does not
    /// list.
    #[derive(FromArgs)]
    struct Args {
        /// a node: its hostname, address or MAC address (repeatable)
        #[argh(positional, arg_name = "NODE")]
        nodes: Vec<String>,
        /// also take the cluster key off the node, giving the machine back
        #[argh(switch)]
        release: bool,
        /// the node is dead or gone: ask nothing of it
        #[argh(switch)]
        forget: bool,
    }
    with config, state_dir, yes, json, quiet, wait
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: Args = cli::parse(cmd, args)?;
    crate::print::set_quiet(args.quiet);
    if args.nodes.is_empty() {
        return Err(cli::usage(cmd, "name at least one NODE"));
    }
    if args.release && args.forget {
        return Err(cli::usage(
            cmd,
            "--release needs the node, --forget does not ask it: choose one",
        ));
    }
    let paths = StatePaths::from_args(cmd, args.state_dir.as_deref(), None)?;
    let _lock = Lock::acquire(&paths, Duration::from_secs(args.wait))?;
    let before = inventory::load(&paths.nodes())?;
    let removed = remove::run(remove::Options {
        config: args.config.map(PathBuf::from),
        paths: paths.copy(),
        nodes: args.nodes,
        release: args.release,
        forget: args.forget,
        yes: args.yes,
        json: args.json,
    });
    // The nodes that left the inventory (even when not cleanly) leave an
    // unfinished key rotation too: one gone for good would hold it up for
    // ever, and a node it reached again would be given the cluster key.
    let after = inventory::load(&paths.nodes())?;
    let gone: Vec<IpAddr> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.ip == b.ip))
        .map(|b| b.ip)
        .collect();
    journal::forget(&paths.journal(), &gone)?;
    removed
}
