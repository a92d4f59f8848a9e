//! `rccr-keys`: the temporary key for images, and key rotation on the nodes.
use super::Applet;
use crate::cli;
use crate::error::Error;
use argh::FromArgs;

pub const APPLET: Applet = Applet {
    command: "keys",
    link: Some("rccr-keys"),
    summary: "key management: gen, rotate, status",
    main,
};

pub const KEYGEN: Applet = Applet {
    command: "keygen",
    link: None,
    summary: "write the temporary key pair for image builds (rccr-keys gen)",
    main: keygen_main,
};

pub const KEYROTATE: Applet = Applet {
    command: "keyrotate",
    link: None,
    summary: "replace the temporary key with a cluster key on every node (rccr-keys rotate)",
    main: keyrotate_main,
};

/// Manage the cluster's SSH keys.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Gen(GenArgs),
    Rotate(RotateArgs),
    Status(StatusArgs),
}

/// Write the temporary key pair that image builds bake in.
#[derive(FromArgs)]
#[argh(subcommand, name = "gen")]
struct GenArgs {}

/// Replace the temporary key with a cluster key on every node, with no lockout.
#[derive(FromArgs)]
#[argh(subcommand, name = "rotate")]
struct RotateArgs {}

/// Show which of our keys each node accepts, and its pinned host key.
#[derive(FromArgs)]
#[argh(subcommand, name = "status")]
struct StatusArgs {}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let Args { command } = cli::parse(cmd, args)?;
    match command {
        Command::Gen(a) => gen(a),
        Command::Rotate(a) => rotate(a),
        Command::Status(StatusArgs {}) => Err(Error::NotImplemented),
    }
}

fn keygen_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    gen(cli::parse(cmd, args)?)
}

fn keyrotate_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    rotate(cli::parse(cmd, args)?)
}

fn gen(GenArgs {}: GenArgs) -> Result<(), Error> {
    Err(Error::NotImplemented)
}

fn rotate(RotateArgs {}: RotateArgs) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
