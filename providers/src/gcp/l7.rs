//! Ingress -> global external Application Load Balancer (ingress-gce's meaning, classic
//! `EXTERNAL` scheme, instance-group backends on the NodePorts): the annotations, parsed and
//! refused with the object, the annotation, the value and what is accepted; and the pure
//! translation.

pub mod annotations;
pub mod translate;
