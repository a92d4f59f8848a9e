//! `rccr-keys`: the temporary key for images, and key rotation on the nodes.
use crate::cli;
use crate::error::Error;
use crate::keys::control::{command, engine, status};
use crate::keys::{self, addr, KeyType};
use crate::state::StatePaths;
use argh::FromArgs;
use std::path::{Path, PathBuf};
use std::time::Duration;

applet! { APPLET = "keys", Some("rccr-keys"), main, "key management: gen, rotate, status" }
applet! { KEYGEN = "keygen", None, keygen_main, "write the temporary key pair for image builds (rccr-keys gen)" }
applet! { KEYROTATE = "keyrotate", None, keyrotate_main, "replace the temporary key with a cluster key on every node, or the cluster key with a new one (--rekey)" }

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
    /// private key path, in a directory that exists (default .rccr/ssh_temp_key, made if missing); the public key goes to PATH.pub
    #[argh(option, short = 'f')]
    file: Option<String>,
    /// key comment (default rccr-temporary-key)
    #[argh(option, short = 'C')]
    comment: Option<String>,
    /// replace an existing key pair
    #[argh(switch)]
    force: bool,
}

cli::options! {
    /// Replace the temporary key with a cluster key on every node, with no
    /// lockout: the new key is added and verified before the old one is
    /// removed, and a node whose rotation is not committed in time restores
    /// its keys by itself. A re-run after any failure finishes the job. On the
    /// nodes, each step runs the node's rccr where it has one and a POSIX sh
    /// script elsewhere (RCCR_KEYS_NODE=script: always the script).
    /// --rekey replaces the cluster key itself the same way, on every node of
    /// the inventory (and --host): the old key stays in the state directory
    /// (previous_key) until every node has moved, and is refused by them all.
    #[derive(FromArgs)]
    #[argh(subcommand, name = "rotate")]
    struct RotateArgs {
        /// a node's address, IP or IP:PORT (repeatable)
        #[argh(option)]
        host: Vec<String>,
        /// a file with one node address per line (# comments allowed)
        #[argh(option)]
        hosts_file: Option<String>,
        /// the private key that logs in today (default: an unfinished
        /// rotation's old key, else the temporary key: the config's
        /// ssh.temp_key, $RCCR_TEMP_KEY, rccr's kept copy, ~/.ssh/id_rsa,
        /// /root/.ssh/id_rsa)
        #[argh(option)]
        from_key: Option<String>,
        /// type of the new key: ed25519 or rsa (default: the config's
        /// ssh.key_type, ed25519)
        #[argh(option, long = "type")]
        key_type: Option<KeyType>,
        /// user to log in as (default: the config's ssh.user, root)
        #[argh(option)]
        user: Option<String>,
        /// SSH port for nodes given without one and the inventory's
        /// (default: the config's ssh.port, 22)
        #[argh(option)]
        port: Option<u16>,
        /// seconds after which a node that saw no commit restores its keys (default 120, at least 1)
        #[argh(option, default = "120")]
        revert_after: u64,
        /// seconds to wait for a node to connect and log in (default 10, 1 to 3600); each step then has two minutes
        #[argh(option, default = "10")]
        timeout: u64,
        /// nodes handled at once (default 32)
        #[argh(option, default = "32")]
        parallel: usize,
        /// delete rccr's kept copy of the temporary key (no more nodes will be added)
        #[argh(switch)]
        forget_temp_key: bool,
        /// replace the cluster key with a new one on every node of the inventory
        /// (asks for a typed confirmation unless --yes)
        #[argh(switch)]
        rekey: bool,
    }
    with config, state_dir, known_hosts, yes, json, quiet, wait
}

cli::options! {
    /// Show which of our keys each node accepts (temporary, current, previous),
    /// its host key fingerprint and whether that fingerprint is pinned, and
    /// whether a key rotation is armed there or its revert timer died.
    #[derive(FromArgs)]
    #[argh(subcommand, name = "status")]
    struct StatusArgs {
        /// a node's address, IP or IP:PORT (repeatable; default: the inventory's nodes and those of the rotation journals)
        #[argh(option)]
        host: Vec<String>,
        /// a file with one node address per line
        #[argh(option)]
        hosts_file: Option<String>,
        /// user to log in as (default: the config's ssh.user, root)
        #[argh(option)]
        user: Option<String>,
        /// SSH port for nodes given without one and the inventory's
        /// (default: the config's ssh.port, 22)
        #[argh(option)]
        port: Option<u16>,
        /// seconds to wait for a node (default 5, 1 to 3600)
        #[argh(option, default = "5")]
        timeout: u64,
    }
    with config, state_dir, known_hosts, json, quiet
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    // The node side of a rotation (`rccr keys node 1 ...`), run by the
    // control over SSH: a wire protocol with its own exit codes, so it
    // bypasses argh and the usual error reporting (src/keys/node.rs).
    if let ["node", rest @ ..] = args {
        std::process::exit(keys::node::main(rest));
    }
    let sub = |name| [cmd, &[name]].concat();
    // A subcommand named first is parsed as itself, so that its usage
    // errors name it in full (`rccr keys status: --timeout x: ...; run
    // 'rccr keys status --help'`); anything else is argh's to answer.
    let command = match args {
        ["gen", rest @ ..] => Command::Gen(cli::parse(&sub("gen"), rest)?),
        ["rotate", rest @ ..] => Command::Rotate(cli::parse(&sub("rotate"), rest)?),
        ["status", rest @ ..] => Command::Status(cli::parse(&sub("status"), rest)?),
        _ => cli::parse::<Args>(cmd, args)?.command,
    };
    match command {
        Command::Gen(a) => named_in_full(&sub("gen"), |cmd| gen(cmd, a)),
        Command::Rotate(a) => named_in_full(&sub("rotate"), |cmd| rotate(cmd, a)),
        Command::Status(a) => named_in_full(&sub("status"), |cmd| {
            status::status(status_options(cmd, a)?)
        }),
    }
}

/// Runs the subcommand `cmd` (`rccr keys status`) and reports its error
/// under that name, as its usage errors, warnings and progress name it:
/// the dispatcher knows only `rccr keys`, and one command's lines that
/// begin with two names read as two commands' lines.
fn named_in_full(
    cmd: &[&str],
    run: impl FnOnce(&[&str]) -> Result<(), Error>,
) -> Result<(), Error> {
    match run(cmd) {
        // Usage errors name the subcommand already.
        outcome @ (Ok(()) | Err(Error::Usage(_))) => outcome,
        failed => {
            let code = crate::error::report(&cmd.join(" "), failed);
            std::process::exit(i32::from(code as u8))
        }
    }
}

fn keygen_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    gen(cmd, cli::parse(cmd, args)?)
}

fn keyrotate_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    rotate(cmd, cli::parse(cmd, args)?)
}

fn gen(cmd: &[&str], args: GenArgs) -> Result<(), Error> {
    cli::not_empty(cmd, &[("-f", args.file.as_deref())], "a file")?;
    let private = PathBuf::from(
        args.file
            .as_deref()
            .unwrap_or(crate::state::IMAGE_BUILD_TEMP_KEY),
    );
    // `-f KEY.pub` wrote the private key to KEY.pub and the public one
    // to KEY.pub.pub: a name OpenSSH reads as a public key holds a secret.
    if private
        .file_name()
        .is_some_and(|name| name.as_encoded_bytes().ends_with(b".pub"))
    {
        return Err(cli::usage(
            cmd,
            &format!(
                "-f {} names a public key file: give the private key's path, without .pub (the public key goes next to it as PATH.pub)",
                private.display()
            ),
        ));
    }
    let public = keys::public_path(&private);
    let bits = match (args.key_type, args.bits) {
        (KeyType::Ed25519, Some(_)) => {
            return Err(cli::usage(cmd, "--bits applies to RSA keys only"))
        }
        (_, bits) => bits.unwrap_or(keys::DEFAULT_RSA_BITS),
    };
    if args.key_type == KeyType::Rsa {
        keys::check_rsa_bits(bits)?;
    }
    // Refuse before the slow part: RSA generation takes seconds.
    for path in [&private, &public] {
        crate::fsutil::check_replaceable(path)?;
    }
    if !args.force {
        if let Some(existing) = [&private, &public].into_iter().find(|p| p.exists()) {
            return Err(Error::Failed(format!(
                "{} exists: pass --force to replace the key pair",
                existing.display()
            )));
        }
    }
    let comment = args.comment.as_deref().unwrap_or(keys::TEMP_KEY_COMMENT);
    // The comment ends the .pub line: a line break in it would put a
    // second, broken line into every authorized_keys it goes to.
    if comment.chars().any(char::is_control) {
        return Err(Error::bad_input(
            format!("-C {comment:?}"),
            "a key comment is one line without control characters",
        ));
    }
    key_directory(&private)?;
    let key = keys::generate(args.key_type, bits, comment)?;
    keys::write_pair(&private, &key)?;
    crate::print::stdout(&format!(
        "wrote {} and {} ({})\n",
        private.display(),
        public.display(),
        key.public_key().fingerprint(Default::default())
    ))
}

/// Makes sure the directory of `private` is there. rccr creates only its
/// own default (`.rccr/` of the working directory); any other directory
/// must exist, as for ssh-keygen: a typo in it would otherwise put the
/// keys somewhere no one looks for them.
fn key_directory(private: &Path) -> Result<(), Error> {
    let Some(dir) = private.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if private == Path::new(crate::state::IMAGE_BUILD_TEMP_KEY) {
        return std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e));
    }
    let problem = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => "is not a directory",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(e) => return Err(Error::io(format!("cannot use {}", dir.display()), e)),
    };
    Err(Error::bad_input(
        format!("-f {}", private.display()),
        format!(
            "{} {problem}: correct the path, or create the directory first (mkdir -p)",
            dir.display()
        ),
    ))
}

fn rotate(cmd: &[&str], args: RotateArgs) -> Result<(), Error> {
    crate::print::set_quiet(args.quiet);
    let revert_after = engine::revert_after(cmd, args.revert_after)?;
    let ssh = ssh_options(
        cmd,
        args.config.as_deref(),
        args.hosts_file.as_deref(),
        args.user.as_deref(),
        args.port,
        args.timeout,
    )?;
    cli::not_empty(cmd, &[("--from-key", args.from_key.as_deref())], "a file")?;
    cli::check_ranges(cmd, &[("--parallel", args.parallel as u64, 1..=u64::MAX)])?;
    let mut nodes = addr::collect(&args.host, args.hosts_file.as_deref(), ssh.port)?;
    let paths = StatePaths::from_args(cmd, args.state_dir.as_deref(), args.known_hosts.as_deref())?;
    if args.forget_temp_key && (!nodes.is_empty() || args.from_key.is_some()) {
        return Err(cli::usage(
            cmd,
            "--forget-temp-key takes no nodes nor --from-key",
        ));
    }
    if args.rekey && (args.from_key.is_some() || args.forget_temp_key) {
        return Err(cli::usage(
            cmd,
            "--rekey replaces the cluster key: it takes neither --from-key nor --forget-temp-key",
        ));
    }
    // One run at a time changes keys, journal and known_hosts; taken before
    // the inventory is read, so that a node a setup adopts meanwhile is
    // rekeyed too, not left on the key that becomes the previous one.
    let _lock = crate::state::Lock::acquire(&paths, Duration::from_secs(args.wait))?;
    let mut classified = Vec::new();
    let mode = if args.rekey {
        // Every node of the inventory moves (the control is not a node),
        // and only under the host key setup recorded: a pin lost from
        // known_hosts (ssh-keygen -R) is no first contact.
        for record in crate::state::inventory::load(&paths.nodes())? {
            if record.role != crate::identity::Role::Control {
                let node = addr::NodeAddr {
                    ip: record.ip,
                    port: ssh.port,
                };
                addr::push_once(&mut nodes, node);
                if let Some(key) = record.host_key {
                    classified.push((node, key));
                }
            }
        }
        command::Mode::Rekey
    } else {
        command::Mode::Rotate
    };
    command::rotate(
        command::Options {
            program: cmd.join(" "),
            nodes,
            from_key_flag: args.from_key.is_some().then_some("--from-key"),
            from_key: args.from_key.map(PathBuf::from),
            key_type: args.key_type.unwrap_or(ssh.key_type),
            user: ssh.user,
            port: ssh.port,
            temp_key: ssh.temp_key,
            revert_after,
            timeout: Duration::from_secs(args.timeout),
            parallel: args.parallel,
            paths,
            yes: args.yes,
            json: args.json,
            forget_temp_key: args.forget_temp_key,
            classified,
        },
        mode,
    )
}

/// The options that rotate and status share, checked: a config, hosts
/// file and user that name something, a timeout in its range, a port. The
/// config's `ssh` section (read as setup and status read it), with
/// `--user` and `--port`, where given, in place of its own.
fn ssh_options(
    cmd: &[&str],
    config: Option<&str>,
    hosts_file: Option<&str>,
    user: Option<&str>,
    port: Option<u16>,
    timeout: u64,
) -> Result<crate::config::Ssh, Error> {
    cli::not_empty(
        cmd,
        &[("--config", config), ("--hosts-file", hosts_file)],
        "a file",
    )?;
    cli::not_empty(cmd, &[("--user", user)], "a user")?;
    cli::check_ranges(cmd, &[("--timeout", timeout, 1..=cli::MAX_TIMEOUT)])?;
    if let Some(port) = port {
        addr::check_port(&format!("--port {port}"), port)?;
    }
    let loaded = crate::config::Config::load(config.map(Path::new))?;
    loaded.warn(&cmd.join(" "));
    let mut ssh = loaded.config.ssh;
    ssh.user = user.map_or(ssh.user, String::from);
    ssh.port = port.unwrap_or(ssh.port);
    Ok(ssh)
}

fn status_options(cmd: &[&str], args: StatusArgs) -> Result<status::Options, Error> {
    let StatusArgs {
        host,
        hosts_file,
        user,
        port,
        timeout,
        config,
        state_dir,
        known_hosts,
        json,
        quiet,
    } = args;
    // Nothing here prints progress: --quiet is taken as by every command
    // that reports.
    crate::print::set_quiet(quiet);
    let ssh = ssh_options(
        cmd,
        config.as_deref(),
        hosts_file.as_deref(),
        user.as_deref(),
        port,
        timeout,
    )?;
    Ok(status::Options {
        program: cmd.join(" "),
        nodes: addr::collect(&host, hosts_file.as_deref(), ssh.port)?,
        port: ssh.port,
        user: ssh.user,
        key_type: ssh.key_type,
        temp_key: ssh.temp_key,
        timeout: Duration::from_secs(timeout),
        paths: StatePaths::from_args(cmd, state_dir.as_deref(), known_hosts.as_deref())?,
        json,
    })
}
