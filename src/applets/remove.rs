//! `rccr remove`: a node leaves the cluster for good.
use crate::cli;
use crate::error::Error;
use crate::state::{Lock, StatePaths};
use crate::swarm::remove;
use argh::FromArgs;
use std::path::PathBuf;
use std::time::Duration;

applet! { APPLET = "remove", None, main, "take nodes out of the cluster: swarm, inventory (and --release: the cluster key)" }

cli::options! {
    /// Take nodes out of the cluster for good: a manager is demoted first, the
    /// node is drained, leaves the swarm, and leaves the swarm's node list,
    /// the inventory and rccr's block in ~/.ssh/config; then, for a manager, the fittest worker that stays
    /// becomes a manager in its place when the swarm wants one more (first,
    /// when the leaving nodes are the only managers that answer). An address (IP or IP:PORT) that only an unfinished key
    /// rotation lists (a node staged, then gone before the inventory named
    /// it) leaves the rotation and rccr's known_hosts pins; no node is asked.
    /// Exit 0 when every node left cleanly, 1 otherwise (a node that could
    /// not leave the swarm by itself, taken out of the swarm's list all the
    /// same, counts as not clean): it has left the inventory all the same,
    /// unless no manager among the nodes that stay answers, or the swarm
    /// lists another node at its address that cannot be told from it: then
    /// nothing is asked of it, and it stays in the inventory (with --forget
    /// and no manager it leaves). 1, with nothing done, for a node the last
    /// setup held back (without --forget). 3 for a node neither lists, or
    /// the control.
    #[derive(FromArgs)]
    struct Args {
        /// a node: its hostname, address or MAC address, or an address only an unfinished key rotation lists (repeatable)
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
    cli::not_empty(cmd, &[("--config", args.config.as_deref())], "a file")?;
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
    remove::run(remove::Options {
        config: args.config.map(PathBuf::from),
        paths: paths.copy(),
        nodes: args.nodes,
        release: args.release,
        forget: args.forget,
        yes: args.yes,
        json: args.json,
    })
}
