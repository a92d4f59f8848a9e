//! The cluster engine: Docker Swarm over the nodes `rccr setup` adopted.
//!
//! - [`playbooks`]: the built-in Ansible playbooks (machine, swarm and
//!   container layers), compiled into the binary so they always match it;
//!   `rccr setup` writes them to `~/.rccr/playbooks/` with the extra vars
//!   built from cluster_config.yml and runs them.
//! - [`status`]: `rccr status`, every node of the inventory queried in
//!   parallel over SSH: reachable, keys, swarm role and state, Docker.
//!
//! docs/engine.md documents both.
pub mod playbooks;
pub mod status;

use crate::keys::{public_path, TEMP_KEY_COMMENT};
use crate::state::StatePaths;
use std::path::{Path, PathBuf};

pub use crate::keys::rotation::cluster_key;

/// The temporary key, if the control still has it: rccr's kept copy, else
/// the config's path, whichever is a key whose public half carries the
/// temporary key's comment.
pub fn temp_key(paths: &StatePaths, configured: &Path) -> Option<PathBuf> {
    [paths.kept_temp_key(), configured.to_path_buf()]
        .into_iter()
        .find(|p| {
            p.is_file()
                && std::fs::read_to_string(public_path(p))
                    .is_ok_and(|line| line.trim_end().ends_with(TEMP_KEY_COMMENT))
        })
}
