//! The cluster engine: Docker Swarm over the nodes `rccr setup` adopted,
//! formed by rccr itself over its SSH connections.
//!
//! - [`engine`]: the run: log in to every node of the inventory, then the
//!   [`machine`] layer (time sync, Docker at boot and running), the
//!   [`form`] layer (the swarm, its managers and labels) and the
//!   [`services`] layer (`containers:` as swarm services). Each says per
//!   node what it changed.
//! - [`ops`] and [`member`]: what is asked of a node's Docker engine, and
//!   how: through the node's rccr ([`relay`], calls on stdin, so join
//!   tokens never reach a command line), or its `docker` command.
//! - [`claim`]: whether the swarm entry of the node ID a node tells is its
//!   own: the one rule setup, remove and status take a node's word by.
//! - [`playbooks`]: the config's own Ansible playbooks, when Ansible is there.
//! - [`status`]: `rccr status`.
//!
//! It reads the inventory and its own record through [`crate::state`] and
//! never reaches into `setup`. docs/engine.md documents it.
pub mod claim;
pub mod engine;
pub mod form;
pub mod health;
pub mod machine;
pub mod member;
pub mod ops;
pub mod playbooks;
pub mod relay;
pub mod remove;
pub mod services;
mod settle;
pub mod status;

pub use engine::Layer;
