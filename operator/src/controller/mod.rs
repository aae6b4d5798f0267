//! kube-runtime controllers.

pub mod service;
