//! A Service -> a Network Load Balancer: its annotations (parsed and refused before any call)
//! and its translation (pure) into the NLB's resources.

pub mod annotations;
pub mod translate;
