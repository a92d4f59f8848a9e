//! The cluster engine: Docker Swarm over the nodes `rccr setup` adopted.
//!
//! - [`playbooks`]: the built-in Ansible playbooks (machine, swarm and
//!   container layers), compiled into the binary so they always match it;
//!   `rccr setup` writes them to `~/.rccr/playbooks/` with the extra vars
//!   built from cluster_config.yml and runs them.
//! - [`status`]: `rccr status`, every node of the inventory queried in
//!   parallel over SSH: reachable, keys, swarm role and state, Docker.
//!
//! It reads the inventory through [`crate::state`] and never reaches into
//! `setup`. docs/engine.md documents both.
pub mod playbooks;
pub mod status;
