//! `rccr setup`: discover the nodes, rotate keys, write the inventory.
use crate::cli;
use crate::error::Error;
use crate::setup;
use crate::state::StatePaths;
use argh::FromArgs;
use std::path::PathBuf;
use std::time::Duration;

applet! { APPLET = "setup", None, main, "find the cluster's nodes, replace the temporary key, form the swarm" }

cli::options! {
    /// Find every RCCR node on the LAN (hostname contains the filter), adopt
    /// the new ones with the temporary key, give them unique hostnames, rotate
    /// them to the cluster key with no lockout, write the inventory, form the
    /// Docker swarm with the config's services, and run the configured
    /// playbooks when Ansible is installed. Run it again after plugging in
    /// more machines: it adopts only the new ones. Needs root (raw sockets
    /// for the sweep).
    #[derive(FromArgs)]
    struct Args {
        /// the temporary private key (default: the config's ssh.temp_key,
        /// $RCCR_TEMP_KEY, rccr's kept copy, ~/.ssh/id_rsa, /root/.ssh/id_rsa)
        #[argh(option)]
        temp_key: Option<String>,
        /// sweep this subnet instead of the config's or the local ones (CIDR; repeatable)
        #[argh(option)]
        subnet: Vec<String>,
        /// sweep the subnets of this interface
        #[argh(option)]
        iface: Option<String>,
        /// show the plan and stop: nothing is changed anywhere
        #[argh(switch)]
        dry_run: bool,
        /// adopt and rotate only: do not form the swarm nor run the configured
        /// playbooks
        #[argh(switch)]
        no_swarm: bool,
        /// the same as --no-swarm (its name until the engine was rccr's own)
        #[argh(switch)]
        no_playbooks: bool,
        /// remove swarm nodes that left the inventory and services that left
        /// cluster_config.yml (they are kept otherwise)
        #[argh(switch)]
        remove_missing: bool,
        /// seconds after which a node whose rotation was not committed restores
        /// its keys (default 120)
        #[argh(option, default = "120")]
        revert_after: u64,
        /// adopt only if exactly N new nodes are found (else change nothing):
        /// a stranger that took the temporary key shows up as one too many
        #[argh(option, arg_name = "n")]
        expect: Option<usize>,
    }
    with config, state_dir, known_hosts, yes, json, quiet, wait
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: Args = cli::parse(cmd, args)?;
    crate::print::set_quiet(args.quiet);
    cli::not_empty(
        cmd,
        &[
            ("--config", args.config.as_deref()),
            ("--temp-key", args.temp_key.as_deref()),
        ],
        "a file",
    )?;
    if args.remove_missing && (args.no_swarm || args.no_playbooks) {
        // Without the swarm stage nothing would be removed, silently.
        return Err(cli::usage(
            cmd,
            "--remove-missing acts on the swarm, which --no-swarm skips",
        ));
    }
    let subnets = args
        .subnet
        .iter()
        .map(|s| super::scan::parse_subnet(s))
        .collect::<Result<_, _>>()?;
    setup::run(setup::Options {
        config: args.config.map(PathBuf::from),
        temp_key: args.temp_key.map(PathBuf::from),
        subnets,
        iface: args.iface,
        paths: StatePaths::from_args(cmd, args.state_dir.as_deref(), args.known_hosts.as_deref())?,
        yes: args.yes,
        dry_run: args.dry_run,
        json: args.json,
        revert_after: crate::keys::control::engine::revert_after(cmd, args.revert_after)?,
        form: !(args.no_swarm || args.no_playbooks),
        remove_missing: args.remove_missing,
        wait: Duration::from_secs(args.wait),
        expect: args.expect,
    })
}
