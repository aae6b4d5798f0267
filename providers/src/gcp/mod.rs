//! GCP: Ingress -> global external Application Load Balancer, Service -> regional passthrough
//! Network Load Balancer. So far: the profile (how the operator selects and finalizes this
//! cloud's objects), resource names, and the L4 Service annotations; translation, the Compute
//! client and the provider come next (issue 8), on the shared engine.

pub mod l4;
pub mod names;
pub mod profile;
