//! GCP: Ingress -> global external Application Load Balancer, Service -> regional passthrough
//! Network Load Balancer. So far only the profile (how the operator selects and finalizes this
//! cloud's objects); the provider comes with the GCP issue, on the shared engine.

pub mod profile;
