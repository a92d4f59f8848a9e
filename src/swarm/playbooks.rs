//! The config's own Ansible playbooks (`playbooks:` of
//! cluster_config.yml), run after the cluster engine when
//! `ansible-playbook` is installed:
//!
//! ```text
//! ansible-playbook -i STATE_DIR/inventory.ini -- PLAYBOOK
//! ```
//!
//! Their output goes to stderr and to `STATE_DIR/ansible.log` (stdout
//! stays for rccr's own report, so `--json` output is pure JSON). Without
//! ansible-playbook, setup says so and succeeds: rccr's own work never
//! needs Ansible. (The engine rccr replaced, as playbooks, is kept in
//! `benches/ansible/engine/` as the benchmark's reference.)
use crate::config::Config;
use crate::error::Error;
use crate::fsutil;
use crate::state::StatePaths;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// How the configured playbooks went.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// None configured.
    None,
    /// Configured, but no ansible-playbook on PATH.
    NoAnsible,
    /// All ran and succeeded.
    Ran,
    /// This one failed (the ones after it did not run).
    Failed(String),
}

/// Runs every configured playbook in order, stopping at the first that
/// fails. A node setup held back is in no group of the inventory they
/// read, so they need no `--limit`.
pub fn run(config: &Config, paths: &StatePaths) -> Result<Outcome, Error> {
    if config.playbooks.is_empty() {
        return Ok(Outcome::None);
    }
    if !fsutil::on_path("ansible-playbook") {
        for playbook in &config.playbooks {
            let playbook = shown(playbook);
            eprintln!(
                "rccr setup: no ansible-playbook on PATH: not running {playbook} (install Ansible, then: ansible-playbook -i {} -- {playbook})",
                shown(&paths.inventory_ini()),
            );
        }
        return Ok(Outcome::NoAnsible);
    }
    let log_path = paths.ansible_log();
    let log = File::create(&log_path)
        .map_err(|e| Error::io(format!("cannot write {}", log_path.display()), e))?;
    let log = Mutex::new(log);
    for playbook in &config.playbooks {
        eprintln!(
            "rccr setup: running ansible-playbook {} (output also in {})",
            shown(playbook),
            shown(&log_path)
        );
        if !ansible_playbook(&paths.inventory_ini(), playbook, &log)? {
            return Ok(Outcome::Failed(shown(playbook)));
        }
    }
    Ok(Outcome::Ran)
}

/// `path` as a line of setup's output may show it (the config names it).
fn shown(path: &Path) -> String {
    crate::print::text(&path.display().to_string()).into_owned()
}

/// Runs one playbook with its stdout and stderr copied to our stderr and
/// the log; true when it succeeded.
fn ansible_playbook(inventory: &Path, playbook: &Path, log: &Mutex<File>) -> Result<bool, Error> {
    let mut child = Command::new("ansible-playbook")
        .arg("-i")
        .arg(inventory)
        // A path, never an option, whatever it starts with.
        .arg("--")
        .arg(playbook)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("cannot run ansible-playbook", e))?;
    let copy = |mut from: Box<dyn Read + Send>| {
        move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                let _ = std::io::stderr().lock().write_all(&buf[..n]);
                let _ = log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .write_all(&buf[..n]);
            }
        }
    };
    let (out, err) = (child.stdout.take(), child.stderr.take());
    std::thread::scope(|scope| {
        if let Some(out) = out {
            scope.spawn(copy(Box::new(out)));
        }
        if let Some(err) = err {
            scope.spawn(copy(Box::new(err)));
        }
    });
    let status = child.wait().map_err(|e| Error::io("ansible-playbook", e))?;
    Ok(status.success())
}
