//! Campaigns, the pure core: which accounts must change their password and what happens to each.
//!
//! [`state`] is the state machine; [`deadline`] what happens at the deadline (`apply(state, event) → (next state, effect)`); [`schedule`]
//! says which mail is due when; [`reconcile`] what an observation of the directory means;
//! [`scope`] what a scan finds; [`config`] the `[campaign]` section. No I/O here: no tokio,
//! directory, store or mail. `crate::engine` executes the effects.

pub mod config;
pub mod deadline;
pub mod reconcile;
pub mod schedule;
pub mod scope;
pub mod state;
