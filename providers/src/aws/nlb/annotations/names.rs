//! The annotation names berth reads, the ones it refuses as not yet supported, and the
//! attribute keys each annotation accepts.

pub const PREFIXES: [&str; 2] = ["service.beta.kubernetes.io/", "service.kubernetes.io/"];
pub(super) const OWNED: &str = "aws-load-balancer-";

pub const TYPE: &str = "aws-load-balancer-type";
pub const TARGET_TYPE: &str = "aws-load-balancer-nlb-target-type";
pub const NAME: &str = "aws-load-balancer-name";
pub const SCHEME: &str = "aws-load-balancer-scheme";
pub const INTERNAL: &str = "aws-load-balancer-internal";
pub const SUBNETS: &str = "aws-load-balancer-subnets";
pub const IP_ADDRESS_TYPE: &str = "aws-load-balancer-ip-address-type";
pub const HC_PROTOCOL: &str = "aws-load-balancer-healthcheck-protocol";
pub const HC_PORT: &str = "aws-load-balancer-healthcheck-port";
pub const HC_PATH: &str = "aws-load-balancer-healthcheck-path";
pub const HC_INTERVAL: &str = "aws-load-balancer-healthcheck-interval";
pub const HC_TIMEOUT: &str = "aws-load-balancer-healthcheck-timeout";
pub const HC_HEALTHY: &str = "aws-load-balancer-healthcheck-healthy-threshold";
pub const HC_UNHEALTHY: &str = "aws-load-balancer-healthcheck-unhealthy-threshold";
pub const HC_SUCCESS_CODES: &str = "aws-load-balancer-healthcheck-success-codes";
pub const SSL_CERT: &str = "aws-load-balancer-ssl-cert";
pub const SSL_PORTS: &str = "aws-load-balancer-ssl-ports";
pub const SSL_POLICY: &str = "aws-load-balancer-ssl-negotiation-policy";
pub const ALPN_POLICY: &str = "aws-load-balancer-alpn-policy";
pub const BACKEND_PROTOCOL: &str = "aws-load-balancer-backend-protocol";
pub const PROXY_PROTOCOL: &str = "aws-load-balancer-proxy-protocol";
pub const TG_ATTRIBUTES: &str = "aws-load-balancer-target-group-attributes";
pub const LB_ATTRIBUTES: &str = "aws-load-balancer-attributes";
pub const CROSS_ZONE: &str = "aws-load-balancer-cross-zone-load-balancing-enabled";
pub const TARGET_NODE_LABELS: &str = "aws-load-balancer-target-node-labels";
pub const ACCESS_LOG_ENABLED: &str = "aws-load-balancer-access-log-enabled";
pub const ACCESS_LOG_BUCKET: &str = "aws-load-balancer-access-log-s3-bucket-name";
pub const ACCESS_LOG_PREFIX: &str = "aws-load-balancer-access-log-s3-bucket-prefix";
pub const TAGS: &str = "aws-load-balancer-additional-resource-tags";
pub const SECURITY_GROUPS: &str = "aws-load-balancer-security-groups";
pub const SG_PREFIX_LISTS: &str = "aws-load-balancer-security-group-prefix-lists";
pub const MANAGE_BACKEND_SG_RULES: &str = "aws-load-balancer-manage-backend-security-group-rules";

pub(super) const SUPPORTED: [&str; 32] = [
    TYPE,
    TARGET_TYPE,
    NAME,
    SCHEME,
    INTERNAL,
    SUBNETS,
    IP_ADDRESS_TYPE,
    HC_PROTOCOL,
    HC_PORT,
    HC_PATH,
    HC_INTERVAL,
    HC_TIMEOUT,
    HC_HEALTHY,
    HC_UNHEALTHY,
    HC_SUCCESS_CODES,
    SSL_CERT,
    SSL_PORTS,
    SSL_POLICY,
    ALPN_POLICY,
    BACKEND_PROTOCOL,
    PROXY_PROTOCOL,
    TG_ATTRIBUTES,
    LB_ATTRIBUTES,
    CROSS_ZONE,
    TAGS,
    SECURITY_GROUPS,
    SG_PREFIX_LISTS,
    MANAGE_BACKEND_SG_RULES,
    ACCESS_LOG_ENABLED,
    ACCESS_LOG_BUCKET,
    ACCESS_LOG_PREFIX,
    TARGET_NODE_LABELS,
];

/// Known to the aws-load-balancer-controller but not implemented by berth yet: refusing them is
/// safer than silently building a load balancer without (say) its security groups.
pub(super) const NOT_YET: [&str; 3] = [
    "aws-load-balancer-eip-allocations",
    "aws-load-balancer-private-ipv4-addresses",
    "aws-load-balancer-ipv6-addresses",
];

pub use crate::aws::annotation_values::RESERVED_TAG_PREFIXES;

pub const NLB_TG_ATTRIBUTES: [&str; 16] = [
    "deregistration_delay.timeout_seconds",
    "deregistration_delay.connection_termination.enabled",
    "preserve_client_ip.enabled",
    "proxy_protocol_v2.enabled",
    "stickiness.enabled",
    "stickiness.type",
    "connection_termination.enabled",
    "target_health_state.unhealthy.connection_termination.enabled",
    "target_health_state.unhealthy.draining_interval_seconds",
    "target_failover.on_deregistration",
    "target_failover.on_unhealthy",
    "load_balancing.cross_zone.enabled",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
];

pub const NLB_LB_ATTRIBUTES: [&str; 9] = [
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "deletion_protection.enabled",
    "load_balancing.cross_zone.enabled",
    "ipv6.deny_all_igw_traffic",
    "dns_record.client_routing_policy",
    "zonal_shift.config.enabled",
    "secondary_ips.auto_assign.per_subnet",
];
