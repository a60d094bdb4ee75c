//! The self-service portal: users set a new password through a one-time link or with their
//! current password. Only this module (and the helpdesk) knows HTTP.

pub mod config;

pub use config::PortalConfig;
