//! Service -> regional passthrough Network Load Balancer (GKE's L4 controllers' meaning).
//! So far: the annotations, parsed and refused with the object, the annotation, the value and
//! what is accepted; translation comes next (issue 8).

pub mod annotations;
