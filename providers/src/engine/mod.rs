//! The engine: what every cloud does the same way, written once.
//!
//! - [`kind`]: each resource kind as data — its parent, whether it is owned by one object or
//!   shared by several, which properties change in place, and how each property compares.
//! - [`diff`]: desired vs observed -> a [`crate::plan::Plan`], pure, driven by those specs: an
//!   immutable change is refused here (so `berth plan` shows it), a shared resource is never
//!   deleted by one owner's plan.
//! - [`apply`]: executes a plan through a cloud's [`apply::Executor`]: the ownership gate (only
//!   what observe vouched for is changed), `Ref` resolution and the map of created IDs, the
//!   deleted set, work still pending.
//! - [`parent`]: read-modify-write of a shared parent's owned children, guarded by a version
//!   token (Azure's etag, GCP's fingerprint), every unowned part kept as it was.
//! - [`operation`]: waiting on a long-running operation with a deadline, or reporting it pending.
//! - [`inventory`]: the cluster's owned resources by owner, filled by one listing per max age,
//!   single flight, kept current by berth's own writes, so observe costs O(1) calls per object.
//!
//! A cloud supplies its kinds' specs, its observe (cloud -> [`crate::plan::Observed`]) and an
//! executor (one create / update / delete per kind).

pub mod apply;
pub mod diff;
pub mod inventory;
pub mod kind;
pub mod operation;
pub mod parent;

pub use apply::{Applied, Created, Executor, Progress};
pub use kind::{Compare, KindSpec, Kinds, Ownership};
