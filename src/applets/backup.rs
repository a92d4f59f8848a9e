//! `rccr backup FILE` and `rccr restore FILE`: the control's state in one
//! archive (src/backup.rs).
use crate::cli;
use crate::error::Error;
use crate::state::{Lock, StatePaths};
use argh::FromArgs;
use std::io::IsTerminal;
use std::time::Duration;

applet! { BACKUP = "backup", None, backup_main, "write the control's keys and state to one archive (- for stdout)" }
applet! { RESTORE = "restore", None, restore_main, "make this control manage the cluster of a backup archive" }

cli::options! {
    /// Write the control's state to one archive, 0600, atomically: the cluster
    /// and previous keys, rccr's copy of the temporary key, the known_hosts
    /// lines of the cluster's nodes, the inventory, the swarm record and the
    /// config. It holds private keys: keep it as safe as the control. FILE `-`
    /// writes to stdout, a file or a pipe, never a terminal (rccr backup - |
    /// ssh elsewhere 'cat > rccr.backup').
    /// Taken during an unfinished key rotation, it holds the rotation too:
    /// restored, rccr keyrotate finishes it. Nothing is written unless
    /// rccr restore would take the archive (exit 3 otherwise; exit 1 with
    /// no cluster key, or mid-rotation when the archive would not hold the
    /// rotation's keys: finish it first).
    #[derive(FromArgs)]
    struct BackupArgs {
        /// where to write the archive, or - for stdout
        #[argh(positional, arg_name = "FILE")]
        file: String,
        /// cluster_config.yml to include (default: the one rccr reads)
        #[argh(option, arg_name = "path")]
        config: Option<String>,
    }
    with state_dir, wait
}

cli::options! {
    /// Make this control manage the cluster of a backup archive: keys, host
    /// keys, inventory, swarm record and config as they were. Nothing is
    /// written unless the whole archive checks out (exit 3 otherwise). FILE
    /// `-` reads stdin (a file or a pipe, not a terminal). A cluster,
    /// previous or temporary key here other than the archive's, or an
    /// unfinished key rotation it does not carry, is refused (exit 3): nodes
    /// may take only that key; so is an inventory with nodes it lacks. --force
    /// restores all the same and keeps each aside as FILE.before-restore,
    /// and with them the swarm record, last-rotation and config it writes
    /// over with other bytes (the cluster key at ~/.ssh's default path
    /// stays there, out of use). RCCR_CLUSTER_KEY naming another key than
    /// the archive's, or none, is refused (naming where the archive's goes
    /// is fine). The same archive restores again. One that
    /// stops part-way makes the other commands refuse until it is run
    /// again. Exit 1 when lbu commit fails.
    #[derive(FromArgs)]
    struct RestoreArgs {
        /// the archive rccr backup wrote, or - for stdin
        #[argh(positional, arg_name = "FILE")]
        file: String,
        /// replace this control's other keys, unfinished rotation, inventory, swarm record, last-rotation and config, each kept aside as FILE.before-restore
        #[argh(switch)]
        force: bool,
    }
    with state_dir, wait
}

fn backup_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: BackupArgs = cli::parse(cmd, args)?;
    cli::not_empty(
        cmd,
        &[
            ("FILE", Some(args.file.as_str())),
            ("--config", args.config.as_deref()),
        ],
        "a file (or - for stdout)",
    )?;
    if args.file == "-" && std::io::stdout().is_terminal() {
        return Err(cli::usage(
            cmd,
            "stdout is a terminal, and the archive holds private keys: name a file (rccr backup FILE writes it whole or not at all, 0600; a shell's > FILE empties it first) or send it to a pipe",
        ));
    }
    let paths = StatePaths::from_args(cmd, args.state_dir.as_deref(), None)?;
    // Held so that the archive is not taken in the middle of a setup run
    // (an unfinished rotation's journal goes in, and comes back on restore).
    let _lock = Lock::acquire(&paths, Duration::from_secs(args.wait))?;
    let config = args.config.as_deref().map(std::path::Path::new);
    let count = crate::backup::backup(cmd, &paths, config, &args.file)?;
    eprintln!(
        "{}: {count} entries written to {} (it holds private keys: keep it safe)",
        cmd.join(" "),
        if args.file == "-" {
            "stdout"
        } else {
            &args.file
        }
    );
    Ok(())
}

fn restore_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let args: RestoreArgs = cli::parse(cmd, args)?;
    if args.file == "-" && std::io::stdin().is_terminal() {
        return Err(cli::usage(
            cmd,
            "stdin is a terminal: give the archive on stdin (rccr restore - < FILE), or name its file",
        ));
    }
    cli::not_empty(
        cmd,
        &[("FILE", Some(args.file.as_str()))],
        "a file (or - for stdin)",
    )?;
    let paths = StatePaths::from_args(cmd, args.state_dir.as_deref(), None)?;
    // Checked before the lock: a bad archive must leave no state directory.
    let archive = crate::backup::read(&args.file)?;
    // It finishes a restore that stopped part-way, so it runs where one did.
    let _lock = Lock::acquire_to_restore(&paths, Duration::from_secs(args.wait))?;
    // The path a re-run is told to give: from anywhere, the same file.
    let name = match args.file.as_str() {
        "-" => "-".into(),
        file => {
            std::fs::canonicalize(file).map_or_else(|_| file.into(), |p| p.display().to_string())
        }
    };
    // Each line as it is done: if it stops part-way, what was written shows.
    let mut report = |line: &str| eprintln!("{}: {line}", cmd.join(" "));
    crate::backup::restore(&paths, &archive, args.force, &name, &mut report)
}
