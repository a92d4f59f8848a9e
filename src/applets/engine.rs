//! `rccr engine node 1`: the cluster engine's node side, which `rccr setup`
//! runs on every node over SSH (the relay between the control and the
//! node's Docker engine; see src/swarm/relay.rs).
use crate::error::Error;

applet! { APPLET = "engine", None, main, "the cluster engine's node side (rccr setup runs it on the nodes)" }

const HELP: &str = "Usage: rccr engine node VERSION

The node side of the cluster engine: rccr setup runs it on every node over
SSH, with the Docker Engine API calls to make on its stdin (so that join
tokens never appear on a command line), and reads their answers from its
stdout. Not for use by hand.

Exit codes: 0 done, 1 malformed input, 125 a protocol VERSION this rccr does
not speak.";

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    match args {
        ["node", rest @ ..] => std::process::exit(crate::swarm::relay::main(rest)),
        ["--help"] | ["-h"] => Err(Error::Help(HELP.into())),
        _ => Err(crate::cli::usage(cmd, "expected 'node VERSION'")),
    }
}
