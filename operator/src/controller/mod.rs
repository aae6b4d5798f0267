//! kube-runtime controllers.

pub mod common;
pub mod ingress;
pub mod service;
#[cfg(test)]
mod test_support;
