//! kube-runtime controllers.

pub mod ingress;
pub mod service;
