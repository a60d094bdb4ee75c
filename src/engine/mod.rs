//! The campaign engine: executes the pure core's decisions against the directory and the store.
//!
//! [`plan`] is the dry run (reads the directory, writes nothing); [`runner`] marks, reverts and
//! reconciles with bounded concurrency and a rate limit; [`deadline`] locks at the deadline and undoes it; [`lease`] keeps one process per
//! campaign; [`status`] counts where a campaign stands. What each account's state may become is
//! decided in `crate::campaign`, never here.

pub mod deadline;
mod executor;
pub mod lease;
pub mod plan;
pub mod runner;
pub mod status;
mod work;

pub use status::Status;
