//! pwresetd: organisation-wide forced password change campaigns for LDAP directories.
//!
//! The library holds everything; `src/main.rs` is a thin binary over [`cli`].
//! See ARCHITECTURE.md for the map and the invariants.

pub mod campaign;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod directory;
pub mod engine;
pub mod helpdesk;
pub mod notify;
pub mod policy;
pub mod portal;
pub mod secret;
pub mod store;
pub mod token;
pub mod web;
