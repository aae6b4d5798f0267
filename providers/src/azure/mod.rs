//! Azure: Service -> a rule set on the cluster's shared Load Balancer, Ingress -> Application
//! Gateway. So far only the profile; the provider comes with the Azure issue, on the shared
//! engine (its shared load balancer through `engine::parent`).

pub mod profile;
