//! `rccr-keys`: the temporary key for images, and key rotation on the nodes.
use super::Applet;
use crate::cli;
use crate::error::Error;
use crate::keys::{self, KeyType};
use argh::FromArgs;
use std::path::PathBuf;

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

/// Write the temporary key pair that image builds bake in: RSA 4096 in
/// OpenSSH format, private key 0600, public key 0644, comment
/// rccr-temporary-key. An existing pair is kept unless --force.
#[derive(FromArgs)]
#[argh(subcommand, name = "gen")]
struct GenArgs {
    /// key type: rsa (the default, as the images use) or ed25519
    #[argh(option, long = "type", default = "KeyType::Rsa")]
    key_type: KeyType,
    /// RSA key size in bits (default 4096)
    #[argh(option)]
    bits: Option<usize>,
    /// private key path (default .rccr/ssh_temp_key); the public key goes to PATH.pub
    #[argh(option, short = 'f')]
    file: Option<String>,
    /// key comment (default rccr-temporary-key)
    #[argh(option, short = 'C')]
    comment: Option<String>,
    /// replace an existing key pair
    #[argh(switch)]
    force: bool,
}

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

fn gen(args: GenArgs) -> Result<(), Error> {
    let private = PathBuf::from(args.file.as_deref().unwrap_or(keys::TEMP_KEY_PATH));
    let public = keys::public_path(&private);
    let bits = match (args.key_type, args.bits) {
        (KeyType::Ed25519, Some(_)) => {
            return Err(Error::Usage(
                "rccr keygen: --bits applies to RSA keys only".into(),
            ))
        }
        (_, bits) => bits.unwrap_or(keys::DEFAULT_RSA_BITS),
    };
    if args.key_type == KeyType::Rsa {
        keys::check_rsa_bits(bits)?;
    }
    // Refuse before the slow part: RSA generation takes seconds.
    if !args.force {
        if let Some(existing) = [&private, &public].into_iter().find(|p| p.exists()) {
            return Err(Error::Failed(format!(
                "{} exists: pass --force to replace the key pair",
                existing.display()
            )));
        }
    }
    if let Some(dir) = private.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    let comment = args.comment.as_deref().unwrap_or(keys::TEMP_KEY_COMMENT);
    let key = keys::generate(args.key_type, bits, comment)?;
    keys::write_pair(&private, &key)?;
    println!(
        "wrote {} and {} ({})",
        private.display(),
        public.display(),
        key.public_key().fingerprint(Default::default())
    );
    Ok(())
}

fn rotate(RotateArgs {}: RotateArgs) -> Result<(), Error> {
    Err(Error::NotImplemented)
}
