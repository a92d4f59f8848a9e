//! `rccr status`: what every node of the inventory is doing.
use crate::cli;
use crate::error::Error;
use crate::state::StatePaths;
use crate::swarm::status;
use argh::FromArgs;
use std::path::PathBuf;
use std::time::Duration;

applet! { APPLET = "status", None, main, "report reachability, key state and swarm role of every node" }

cli::options! {
    /// Report, for each node of the inventory (STATE_DIR/nodes, written by rccr
    /// setup), whether it is reachable over SSH, whether it accepts the cluster
    /// key and refuses the temporary key, its swarm role and state, and its
    /// Docker version. All nodes are asked at once. Exit code 0 when every node
    /// is reachable and healthy, 1 otherwise (3: a malformed inventory or
    /// config).
    #[derive(FromArgs)]
    struct Args {
        /// seconds to wait for a node to connect and answer (default 5, 1 to 3600)
        #[argh(option, default = "5")]
        timeout: u64,
        /// nodes asked at once (default 128)
        #[argh(option, default = "status::DEFAULT_PARALLEL")]
        parallel: usize,
    }
    with config, state_dir, json, quiet
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: Args = cli::parse(cmd, args)?;
    crate::print::set_quiet(args.quiet);
    cli::not_empty(cmd, &[("--config", args.config.as_deref())], "a file")?;
    cli::check_ranges(
        cmd,
        &[
            ("--timeout", args.timeout, 1..=cli::MAX_TIMEOUT),
            ("--parallel", args.parallel as u64, 1..=u64::MAX),
        ],
    )?;
    status::run(status::Options {
        config: args.config.map(PathBuf::from),
        paths: StatePaths::from_args(cmd, args.state_dir.as_deref(), None)?,
        timeout: Duration::from_secs(args.timeout),
        parallel: args.parallel,
        json: args.json,
    })
}
