//! Cloud facts for translation ([`AwsFacts`]): the subnets of the load balancer and the VPC of
//! its target groups, found with one DescribeSubnets call.

use super::annotations::{self as ann, NlbAnnotations};
use super::client::AwsProvider;
use super::operations as ops;
use super::translate::AwsFacts;
use crate::error::{Error, Result};
use crate::frontend::Frontend;
use aws_sdk_ec2::types::Filter;
use std::collections::BTreeMap;

pub const ROLE_ELB: &str = "kubernetes.io/role/elb";
pub const ROLE_INTERNAL_ELB: &str = "kubernetes.io/role/internal-elb";

/// The subnet facts discovery needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetInfo {
    pub id: String,
    pub zone: String,
    pub vpc_id: String,
}

/// How the subnets are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The annotation lists subnet IDs.
    Ids(Vec<String>),
    /// The annotation lists `Name` tag values.
    Names(Vec<String>),
    /// By role and cluster tags (no annotation).
    Tags { role: &'static str, cluster: String },
}

pub fn selection(fe: &Frontend, a: &NlbAnnotations) -> Selection {
    match &a.subnets {
        ann::Subnets::Listed(l) if l.iter().all(|s| s.starts_with("subnet-")) => {
            Selection::Ids(l.clone())
        }
        ann::Subnets::Listed(l) => Selection::Names(l.clone()),
        ann::Subnets::Discover => Selection::Tags {
            role: if a.internal {
                ROLE_INTERNAL_ELB
            } else {
                ROLE_ELB
            },
            cluster: fe.cluster.clone(),
        },
    }
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.to_vec()))
        .build()
}

/// The DescribeSubnets filters for a selection (and the configured VPC, if any).
pub fn filters(sel: &Selection, vpc_id: Option<&str>) -> Vec<Filter> {
    let mut out = match sel {
        Selection::Ids(ids) => vec![filter("subnet-id", ids)],
        Selection::Names(names) => vec![filter("tag:Name", names)],
        Selection::Tags { role, cluster } => vec![
            filter(&format!("tag:{role}"), &["1".to_string()]),
            filter("tag-key", &[format!("kubernetes.io/cluster/{cluster}")]),
        ],
    };
    if let Some(v) = vpc_id {
        out.push(filter("vpc-id", &[v.to_string()]));
    }
    out
}

/// Chooses the subnets from what DescribeSubnets returned. Pure.
/// - Listed IDs must all exist (in the configured VPC); they are used as listed (sorted).
/// - Names and tags: one subnet per availability zone (the lowest ID), sorted.
///
/// All chosen subnets must be in one VPC; that VPC is the target groups' unless one is
/// configured.
pub fn choose(
    fe: &Frontend,
    sel: &Selection,
    vpc_id: Option<&str>,
    found: &[SubnetInfo],
) -> Result<AwsFacts> {
    let annotation = format!("{}{}", ann::PREFIXES[0], ann::SUBNETS);
    let in_vpc = match vpc_id {
        Some(v) => format!(" in VPC {v}"),
        None => String::new(),
    };
    let mut chosen: Vec<&SubnetInfo> = match sel {
        Selection::Ids(ids) => {
            let missing: Vec<&str> = ids
                .iter()
                .filter(|id| !found.iter().any(|s| &s.id == *id))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::CloudSetup(format!(
                    "{}: annotation {annotation} lists subnets that do not exist{in_vpc}: {}",
                    fe.object,
                    missing.join(", ")
                )));
            }
            found.iter().collect()
        }
        Selection::Names(_) | Selection::Tags { .. } => {
            let mut by_zone: BTreeMap<&str, &SubnetInfo> = BTreeMap::new();
            for s in found {
                let e = by_zone.entry(s.zone.as_str()).or_insert(s);
                if s.id < e.id {
                    *e = s;
                }
            }
            by_zone.into_values().collect()
        }
    };
    if chosen.is_empty() {
        let why = match sel {
            // Never empty: annotations::parse refuses an empty list, missing IDs are above.
            Selection::Ids(_) => "the subnets annotation lists no subnet".to_string(),
            Selection::Names(names) => format!(
                "no subnet{in_vpc} has a Name tag among {}; check annotation {annotation}",
                names.join(", ")
            ),
            Selection::Tags { role, cluster } => format!(
                "no subnet{in_vpc} is tagged for this load balancer: tag the subnets with {role}=1 \
                 and kubernetes.io/cluster/{cluster}=owned (or shared), or list subnets in \
                 annotation {annotation}"
            ),
        };
        return Err(Error::CloudSetup(format!("{}: {why}", fe.object)));
    }
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    chosen.dedup_by(|a, b| a.id == b.id);
    let vpc = match vpc_id {
        Some(v) => v.to_string(),
        None => {
            let mut vpcs: Vec<&str> = chosen.iter().map(|s| s.vpc_id.as_str()).collect();
            vpcs.sort();
            vpcs.dedup();
            if vpcs.len() > 1 {
                return Err(Error::CloudSetup(format!(
                    "{}: the subnets found are in several VPCs ({}); configure berth's VPC ID or list the subnets in annotation {annotation}",
                    fe.object,
                    vpcs.join(", ")
                )));
            }
            vpcs[0].to_string()
        }
    };
    Ok(AwsFacts {
        vpc_id: Some(vpc),
        subnets: Some(chosen.iter().map(|s| s.id.clone()).collect()),
        target_security_groups: None,
    })
}

impl AwsProvider {
    /// Subnets and VPC for a Frontend: one DescribeSubnets call (more only if AWS pages).
    pub async fn discover(&self, fe: &Frontend, a: &NlbAnnotations) -> Result<AwsFacts> {
        self.discover_selection(fe, selection(fe, a)).await
    }

    /// Like [`Self::discover`], for a selection made elsewhere (an Ingress group's). `fe` only
    /// names the owner and the cluster in errors.
    pub async fn discover_selection(&self, fe: &Frontend, sel: Selection) -> Result<AwsFacts> {
        let filters = filters(&sel, self.vpc_id.as_deref());
        let subnets = self
            .all_pages(
                ops::DESCRIBE_SUBNETS,
                |token| {
                    self.ec2
                        .describe_subnets()
                        .set_filters(Some(filters.clone()))
                        .set_next_token(token)
                        .send()
                },
                |p| (p.subnets, p.next_token),
            )
            .await?;
        let found: Vec<SubnetInfo> = subnets
            .iter()
            .filter_map(|s| {
                Some(SubnetInfo {
                    id: s.subnet_id()?.to_string(),
                    zone: s.availability_zone()?.to_string(),
                    vpc_id: s.vpc_id()?.to_string(),
                })
            })
            .collect();
        choose(fe, &sel, self.vpc_id.as_deref(), &found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::ObjectRef;

    fn sn(id: &str, zone: &str, vpc: &str) -> SubnetInfo {
        SubnetInfo {
            id: id.into(),
            zone: zone.into(),
            vpc_id: vpc.into(),
        }
    }

    fn fe() -> Frontend {
        Frontend::new(ObjectRef::service("ns", "web"), "c1")
    }

    fn tags() -> Selection {
        Selection::Tags {
            role: ROLE_INTERNAL_ELB,
            cluster: "c1".into(),
        }
    }

    #[test]
    fn one_subnet_per_zone_lowest_id_sorted() {
        let found = [
            sn("subnet-c", "us-east-1b", "vpc-1"),
            sn("subnet-b", "us-east-1a", "vpc-1"),
            sn("subnet-a", "us-east-1b", "vpc-1"),
            sn("subnet-d", "us-east-1a", "vpc-1"),
        ];
        let f = choose(&fe(), &tags(), None, &found).unwrap();
        assert_eq!(
            f.subnets,
            Some(vec!["subnet-a".to_string(), "subnet-b".to_string()])
        );
        assert_eq!(f.vpc_id.as_deref(), Some("vpc-1"));
    }

    #[test]
    fn nothing_tagged_says_which_tags_to_set() {
        let err = choose(&fe(), &tags(), None, &[]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::CloudSetup(_)));
        assert!(msg.contains("kubernetes.io/role/internal-elb=1"), "{msg}");
        assert!(msg.contains("kubernetes.io/cluster/c1"), "{msg}");
        assert!(msg.contains("aws-load-balancer-subnets"), "{msg}");
    }

    #[test]
    fn listed_ids_must_exist_and_configured_vpc_wins() {
        let sel = Selection::Ids(vec!["subnet-1".into(), "subnet-2".into()]);
        let err = choose(&fe(), &sel, None, &[sn("subnet-1", "a", "vpc-1")]).unwrap_err();
        assert!(err.to_string().contains("subnet-2"), "{err}");
        let f = choose(
            &fe(),
            &sel,
            Some("vpc-9"),
            &[sn("subnet-2", "a", "vpc-9"), sn("subnet-1", "a", "vpc-9")],
        )
        .unwrap();
        assert_eq!(
            f.subnets,
            Some(vec!["subnet-1".to_string(), "subnet-2".to_string()])
        );
        assert_eq!(f.vpc_id.as_deref(), Some("vpc-9"));
    }

    #[test]
    fn several_vpcs_are_refused() {
        let found = [sn("subnet-1", "a", "vpc-1"), sn("subnet-2", "b", "vpc-2")];
        let err = choose(&fe(), &tags(), None, &found).unwrap_err();
        assert!(err.to_string().contains("several VPCs"), "{err}");
    }

    #[test]
    fn filters_follow_the_selection() {
        let f = filters(&tags(), Some("vpc-1"));
        let names: Vec<&str> = f.iter().filter_map(|f| f.name()).collect();
        assert_eq!(
            names,
            vec!["tag:kubernetes.io/role/internal-elb", "tag-key", "vpc-id"]
        );
        assert_eq!(f[1].values(), ["kubernetes.io/cluster/c1"]);
    }
}
