//! `rccr-scan`: find the cluster's machines on the LAN.
use crate::cli;
use crate::error::Error;
use crate::keys::resolve::{Given, Resolver};
use crate::scan::{self, output, snapshot, Options};
use crate::wire::ipv4::{Cidr, CidrError};
use argh::FromArgs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

applet! { APPLET = "scan", Some("rccr-scan"), main, "find the machines on the LAN whose hostname contains the filter" }

cli::options! {
    /// Sweep the LAN with ARP (ICMP echo beyond the local subnets), name every
    /// live host by reverse DNS, probe TCP port 22, and list the hosts whose
    /// hostname contains the filter, plus unnamed hosts with SSH open. Needs
    /// root. With no --subnet, sweeps the subnets of the default route's
    /// interface (or of every interface that is up).
    #[derive(FromArgs)]
    struct Args {
        /// sweep this subnet (e.g. 192.168.1.0/24); repeatable
        #[argh(option, arg_name = "cidr")]
        subnet: Vec<String>,
        /// sweep the subnets of this interface (with --subnet: use it for ARP)
        #[argh(option, arg_name = "name")]
        iface: Option<String>,
        /// hosts whose hostname contains this, ignoring case, are ours
        /// (default: discovery.hostname_filter of cluster_config.yml, else ReCyClusteR)
        #[argh(option, arg_name = "str")]
        filter: Option<String>,
        /// list every live host, not only ours and unnamed SSH hosts
        #[argh(switch)]
        all: bool,
        /// print a JSON array instead of a table
        #[argh(switch)]
        json: bool,
        /// how long to wait for answers, retries included (default 300, 1 to 60000)
        #[argh(
            option,
            arg_name = "ms",
            default = "scan::DEFAULT_TIMEOUT.as_millis() as u32"
        )]
        timeout_ms: u32,
        /// how many more times to ask a silent address (default 3, at most 10)
        #[argh(option, arg_name = "n", default = "scan::DEFAULT_RETRIES")]
        retries: u8,
        /// write the live hosts to this file, to compare a later scan against
        #[argh(option, arg_name = "file")]
        save: Option<String>,
        /// list only hosts that are not in this file (written by --save)
        #[argh(option, arg_name = "file")]
        since: Option<String>,
        /// allow sweeping subnets larger than a /16
        #[argh(switch)]
        force: bool,
        /// log in to every SSH host (not only ours) with the temporary key and use its hostname; the host key is not checked, so the name is as unauthenticated as DNS (docs/scan.md)
        #[argh(switch)]
        ssh_names: bool,
        /// the temporary private key for --ssh-names (default: the config's
        /// ssh.temp_key, $RCCR_TEMP_KEY, rccr's kept copy, ~/.ssh/id_rsa,
        /// /root/.ssh/id_rsa)
        #[argh(option, arg_name = "path")]
        key: Option<String>,
        /// user --ssh-names logs in as (default: the config's ssh.user, root)
        #[argh(option)]
        user: Option<String>,
        /// SSH port to probe and, with --ssh-names, log in to (default: the
        /// config's ssh.port, 22)
        #[argh(option)]
        port: Option<u16>,
    }
    with config, quiet
}

/// Parses one --subnet value, naming it in the error.
pub(crate) fn parse_subnet(text: &str) -> Result<Cidr, Error> {
    let what = format!("--subnet {text}");
    Cidr::parse(text).map_err(|e| match e {
        CidrError::Syntax => Error::bad_input(
            what,
            "not an IPv4 subnet in CIDR form, such as 192.168.1.0/24",
        ),
        CidrError::HostBits(net) => {
            Error::bad_input(what, format!("host bits are set; did you mean {net}?"))
        }
    })
}

fn options(cmd: &[&str], args: &Args) -> Result<Options, Error> {
    cli::not_empty(
        cmd,
        &[
            ("--config", args.config.as_deref()),
            ("--save", args.save.as_deref()),
            ("--since", args.since.as_deref()),
            ("--key", args.key.as_deref()),
        ],
        "a file",
    )?;
    cli::check_ranges(
        cmd,
        &[("--timeout-ms", u64::from(args.timeout_ms), 1..=60_000)],
    )?;
    if args.retries > 10 {
        return Err(cli::usage(cmd, "--retries must be at most 10"));
    }
    if !args.ssh_names {
        for (flag, given) in [
            ("--key", args.key.is_some()),
            ("--user", args.user.is_some()),
        ] {
            if given {
                return Err(cli::usage(cmd, &format!("{flag} is for --ssh-names")));
            }
        }
    }
    cli::not_empty(cmd, &[("--user", args.user.as_deref())], "a user")?;
    if let Some(port) = args.port {
        crate::keys::addr::check_port(&format!("--port {port}"), port)?;
    }
    // Read with --filter too: the config also gives ssh.port, ssh.user and
    // ssh.temp_key.
    let (config, unreadable) =
        match crate::config::Config::load(args.config.as_deref().map(Path::new)) {
            Ok(loaded) => {
                // A misspelt key (hostname_filtr) leaves the default in place:
                // say so, as setup and status do.
                loaded.warn(&cmd.join(" "));
                (loaded.config, None)
            }
            // A user who may not read the config found by the default
            // lookup may still sweep (CAP_NET_RAW), or is told to run as
            // root by the sweep: go on with the defaults, and say so below.
            Err(e) if args.config.is_none() && is_permission_denied(&e) => {
                (crate::config::Config::default(), Some(e))
            }
            Err(e) => return Err(e),
        };
    let filter = match &args.filter {
        Some(filter) => filter.clone(),
        None => config.discovery.hostname_filter,
    };
    let mut opts = Options::new(&filter);
    opts.subnets = args
        .subnet
        .iter()
        .map(|s| parse_subnet(s))
        .collect::<Result<_, _>>()?;
    opts.iface = args.iface.clone();
    opts.timeout = Duration::from_millis(u64::from(args.timeout_ms));
    opts.retries = args.retries;
    opts.force = args.force;
    opts.ssh_port = args.port.unwrap_or(config.ssh.port);
    if args.ssh_names {
        opts.ssh_user = args.user.clone().unwrap_or(config.ssh.user);
    }
    // Before the key is looked for: its failure would hide the reason.
    if let Some(why) = unreadable {
        eprintln!(
            "{}",
            unreadable_config_warning(&cmd.join(" "), &why, &opts, args.ssh_names)
        );
    }
    if args.ssh_names {
        let paths = crate::state::StatePaths::from_args(cmd, None, None)?;
        let given = args.key.as_deref().map(|path| Given {
            flag: "--key",
            path: Path::new(path),
        });
        let found = Resolver::new(&paths)
            .temporary(given, config.ssh.temp_key.as_ref(), &cmd.join(" "))?
            .ok_or_else(|| {
                Error::bad_input(
                    "--ssh-names",
                    "no temporary key found: the temporary private key is needed; pass --key PATH",
                )
            })?;
        // As setup does: a key that cannot log in is said once, here,
        // not once for every host of the sweep.
        let name = if args.key.is_some() {
            "--key"
        } else {
            "the temporary key"
        };
        crate::keys::check_login_key(&format!("{name} {}", found.path.display()), &found.path)?;
        opts.ssh_key = Some(found.path);
    }
    Ok(opts)
}

fn is_permission_denied(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied)
}

/// The warning for a config that could not be read (`why`): the scan goes
/// on without it, and says with which port, user (for --ssh-names) and
/// filter, since the file may have said others (ssh.port 2222). One line,
/// escaped: the path and --filter are anyone's text.
fn unreadable_config_warning(
    program: &str,
    why: &Error,
    opts: &Options,
    ssh_names: bool,
) -> String {
    let user = match ssh_names {
        true => format!(", user {}", opts.ssh_user),
        false => String::new(),
    };
    let line = format!(
        "{program}: warning: {why}; the scan uses port {}{user} and filter {} instead",
        opts.ssh_port, opts.filter
    );
    crate::error::one_line(&line).into_owned()
}

fn main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: Args = cli::parse(cmd, args)?;
    crate::print::set_quiet(args.quiet);
    let opts = options(cmd, &args)?;
    let since = args
        .since
        .as_deref()
        .map(|p| snapshot::load(Path::new(p)))
        .transpose()?;

    let report = scan::run(&opts)?;

    let shown: Vec<scan::Host> = report
        .hosts
        .iter()
        .filter(|h| args.all || h.is_interesting())
        .filter(|h| since.as_ref().is_none_or(|s| snapshot::is_new(h, s)))
        .cloned()
        .collect();
    let text = if args.json {
        output::json(&shown)
    } else {
        output::table(&shown)
    };
    let mut stderr = std::io::stderr().lock();
    for warning in &report.warnings {
        let _ = writeln!(stderr, "{}: warning: {warning}", cmd.join(" "));
    }
    // On stderr, so that stdout stays a table or pure JSON.
    let _ = writeln!(stderr, "{}: {}", cmd.join(" "), output::summary(&report));
    crate::print::stdout(&text)?;
    // Last: a file that cannot be written does not cost the sweep's results.
    if let Some(path) = &args.save {
        snapshot::save(Path::new(path), &report.hosts)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Result<Options, Error> {
        let args: Args = cli::parse(&["rccr-scan"], args)?;
        options(&["rccr-scan"], &args)
    }

    #[test]
    fn defaults() {
        let o = opts(&[]).unwrap();
        assert_eq!(o.filter, "ReCyClusteR");
        assert_eq!(o.timeout, scan::DEFAULT_TIMEOUT);
        assert_eq!(o.retries, scan::DEFAULT_RETRIES);
        assert!(o.subnets.is_empty() && o.iface.is_none() && o.ssh_key.is_none() && !o.force);
    }

    #[test]
    fn the_default_filter_comes_from_the_config() {
        let path =
            std::env::temp_dir().join(format!("rccr-scan-config-{}.yml", std::process::id()));
        std::fs::write(&path, "discovery:\n  hostname_filter: MyLab\n").unwrap();
        let o = opts(&["--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(o.filter, "MyLab");
        let o = opts(&["--config", path.to_str().unwrap(), "--filter", "x"]).unwrap();
        assert_eq!(o.filter, "x");
        std::fs::write(&path, "discovery: [\n").unwrap();
        let err = opts(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput, "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn subnets_and_options() {
        let o = opts(&[
            "--subnet",
            "10.0.0.0/24",
            "--subnet",
            "10.1.0.0/16",
            "--filter",
            "x",
            "--timeout-ms",
            "50",
            "--retries",
            "1",
        ])
        .unwrap();
        assert_eq!(o.subnets.len(), 2);
        assert_eq!(o.filter, "x");
        assert_eq!(o.timeout, Duration::from_millis(50));
        assert_eq!(o.retries, 1);
    }

    #[test]
    fn bad_subnets_are_named() {
        let err = opts(&["--subnet", "10.0.0.1/24"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--subnet 10.0.0.1/24: host bits are set; did you mean 10.0.0.0/24?"
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        for bad in ["10.0.0.0/33", "banana", "10.0.0.0/-1", ""] {
            let err = opts(&["--subnet", bad]).unwrap_err();
            crate::error::assert_says(&err, &format!("--subnet {bad}: not an IPv4 subnet"));
        }
    }

    #[test]
    fn ssh_names_needs_the_key_file() {
        let err = opts(&["--ssh-names", "--key", "/nonexistent/key"]).unwrap_err();
        crate::error::assert_says(&err, "--key /nonexistent/key: no such file");
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
    }

    #[test]
    fn an_unreadable_config_is_one_escaped_line_naming_what_is_used_instead() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let why = Error::io("cannot read ./cluster_config.yml", denied);
        assert!(is_permission_denied(&why));
        assert!(!is_permission_denied(&Error::io(
            "cannot read x",
            std::io::Error::from(std::io::ErrorKind::NotFound)
        )));
        let mut o = opts(&["--filter", "lab\n\u{1b}[2J"]).unwrap();
        let line = unreadable_config_warning("rccr scan", &why, &o, false);
        assert!(
            line.starts_with("rccr scan: warning: cannot read ./cluster_config.yml: "),
            "{line}"
        );
        assert!(
            line.ends_with("; the scan uses port 22 and filter lab\\n\\u{1b}[2J instead"),
            "{line}"
        );
        assert!(!line.chars().any(char::is_control), "{line}");
        o.ssh_port = 2200;
        o.filter = "lab".into();
        let line = unreadable_config_warning("rccr scan", &why, &o, true);
        assert!(
            line.ends_with("; the scan uses port 2200, user root and filter lab instead"),
            "{line}"
        );
    }

    #[test]
    fn the_ssh_port_comes_from_the_config_and_port_wins() {
        let path = std::env::temp_dir().join(format!("rccr-scan-ssh-{}.yml", std::process::id()));
        std::fs::write(&path, "ssh:\n  user: admin\n  port: 2222\n").unwrap();
        let config = path.to_str().unwrap();
        assert_eq!(opts(&["--config", config]).unwrap().ssh_port, 2222);
        let o = opts(&["--config", config, "--port", "22"]).unwrap();
        assert_eq!(o.ssh_port, 22);
        // Without --ssh-names nobody logs in: the user stays unused.
        assert_eq!(o.ssh_user, "root");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(opts(&[]).unwrap().ssh_port, 22);
        let err = opts(&["--port", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput, "{err}");
        let err = opts(&["--user", "admin"]).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::Usage, "{err}");
        crate::error::assert_says(&err, "rccr-scan: --user is for --ssh-names");
    }
}
