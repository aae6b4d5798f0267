//! Service -> regional passthrough Network Load Balancer (GKE's L4 controllers' meaning): the
//! annotations, parsed and refused with the object, the annotation, the value and what is
//! accepted; and the pure translation.

pub mod annotations;
pub mod translate;
