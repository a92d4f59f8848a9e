//! Where rccr keeps its state on the control node. Every path can be
//! redirected (an option or an environment variable) so that tests running
//! in parallel never share state.
//!
//! | what | default | override |
//! |---|---|---|
//! | state directory (journal, kept temporary key) | `~/.rccr` | `--state-dir`, `RCCR_STATE_DIR` |
//! | pinned host keys | `~/.ssh/known_hosts` | `--known-hosts` |
//! | the identity plain `ssh` offers | `~/.ssh/id_ed25519`, `~/.ssh/id_rsa` | (OpenSSH's defaults) |
use crate::error::Error;
use std::path::{Path, PathBuf};

pub struct StatePaths {
    pub ssh_dir: PathBuf,
    pub state_dir: PathBuf,
    pub known_hosts: PathBuf,
}

impl StatePaths {
    pub fn resolve(state_dir: Option<&str>, known_hosts: Option<&str>) -> StatePaths {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        let ssh_dir = home.join(".ssh");
        let state_dir = state_dir
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("RCCR_STATE_DIR").map(PathBuf::from))
            .unwrap_or_else(|| home.join(".rccr"));
        let known_hosts = known_hosts
            .map(PathBuf::from)
            .unwrap_or_else(|| ssh_dir.join("known_hosts"));
        StatePaths {
            ssh_dir,
            state_dir,
            known_hosts,
        }
    }

    /// The rotation journal of an unfinished run.
    pub fn journal(&self) -> PathBuf {
        self.state_dir.join("rotation.journal")
    }

    /// The journal of the last finished rotation: current and previous keys.
    pub fn last_rotation(&self) -> PathBuf {
        self.state_dir.join("last-rotation")
    }

    /// rccr's root-only copy of the temporary key, to adopt later nodes.
    pub fn kept_temp_key(&self) -> PathBuf {
        self.state_dir.join("temp_key")
    }

    /// Creates the state directory, root-only.
    pub fn create_state_dir(&self) -> Result<(), Error> {
        create_private_dir(&self.state_dir)
    }
}

/// Creates `dir` (and parents) and makes it 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

/// On a diskless Alpine control node (`lbu` present), saves the changes to
/// the boot media so the cluster key and rccr's state survive a reboot.
/// Returns a line for the user when that is impossible or fails.
pub fn persist_control() -> Option<String> {
    let lbu = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("lbu").is_file()))
        .unwrap_or(false);
    if !lbu {
        return None;
    }
    match std::process::Command::new("lbu").arg("commit").status() {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!(
            "lbu commit failed ({status}): the cluster key will be lost at reboot; run lbu commit by hand"
        )),
        Err(e) => Some(format!("cannot run lbu commit: {e}")),
    }
}
