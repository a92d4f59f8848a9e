//! The control's side of key rotation.
//!
//! - [`engine`]: the no-lockout protocol, node by node (documented there).
//! - [`command`]: `rccr keyrotate` around it: which keys, the journal, the
//!   clean-up once every node has moved.
//! - [`journal`]: what an interrupted run left.
//! - [`known_hosts`]: host key pinning.
//! - [`ssh_config`]: rccr's block in `~/.ssh/config`, naming the cluster
//!   key when it cannot live at OpenSSH's default path.
//! - [`status`]: `rccr-keys status`.
pub mod command;
pub mod engine;
pub mod journal;
pub mod known_hosts;
pub mod ssh_config;
pub mod status;
