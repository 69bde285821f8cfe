//! The fault kinds of the experiment document, one file per family (mirroring
//! `src/fault/`).
//!
//! Security drills are among them: detection canaries (benign actions a working security
//! monitor must notice) and prevention checks (actions policy must refuse).
//! docs/security-drills.md describes each one: what it imitates, what a monitor must see,
//! and what catching or refusing it does not prove.

mod canary;
mod canary_kube;
mod config;
mod container;
mod dependency;
mod kubernetes;
mod memory;
mod network;
mod node;
mod prevention;
mod process;
mod stress;

pub use canary::*;
pub use canary_kube::*;
pub use config::*;
pub use container::*;
pub use dependency::*;
pub use kubernetes::*;
pub use memory::*;
pub use network::*;
pub use node::*;
pub use prevention::*;
pub use process::*;
pub use stress::*;
