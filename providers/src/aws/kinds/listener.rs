//! `AWS::ElasticLoadBalancingV2::Listener`: its shape (default certificate first, forward
//! configs folded), DescribeListeners per load balancer, the extra (SNI) certificates, and
//! CreateListener / ModifyListener (only what changed) / the certificate delta.
//!
//! Extra certificates carry no tags of their own, so the listener keeps the books: its tag
//! [`CERTIFICATES_TAG`] names (by a short hash) the extra certificates berth added. Extras it
//! does not name were added by someone else: observe leaves them out, and berth neither
//! compares nor removes them.

use super::*;
use crate::aws::client::AwsProvider;
use crate::aws::operations as ops;
use crate::aws::{translate, KIND_LISTENER};
use crate::error::Result;
use crate::plan::{Change, Resource};
use aws_sdk_elasticloadbalancingv2::types::{Certificate, Listener, ProtocolEnum};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The listener tag that names the extra certificates berth added (see the module docs).
pub const CERTIFICATES_TAG: &str = "berth.dev/certificates";

/// A certificate's mark in [`CERTIFICATES_TAG`]: 8 hex digits of its ARN's hash, so that the
/// 256-character tag value holds 28 of them (an ALB listener takes 25 by default).
fn mark(arn: &str) -> String {
    crate::naming::hash_hex(&[arn], 8)
}

/// The bookkeeping tag for a desired listener's certificates (default first): the marks of
/// the extra ones, sorted; nothing without extras.
pub fn certificates_mark(certificates: &[String]) -> BTreeMap<String, String> {
    let mut marks: Vec<String> = certificates.iter().skip(1).map(|a| mark(a)).collect();
    marks.sort();
    marks.dedup();
    if marks.is_empty() {
        return BTreeMap::new();
    }
    BTreeMap::from([(CERTIFICATES_TAG.to_string(), marks.join(","))])
}

/// Whether berth added extra certificates to a listener with these tags (so observe must read
/// them even when the desired listener lists none).
pub fn marks_certificates(tags: &Tags) -> bool {
    tags.get(CERTIFICATES_TAG).is_some_and(|v| !v.is_empty())
}

/// Keeps, of an observed listener's certificates (default first), the default one and the
/// extras that are berth's: those the tag marks, or — on a listener from before the mark —
/// those the desired listener lists. The others are someone else's and drop out of the
/// observed state.
pub fn keep_own_certificates(
    props: &mut Map<String, Value>,
    tags: &Tags,
    desired: Option<&Map<String, Value>>,
) {
    let certs = certificate_arns(Some(props));
    let Some((default, extras)) = certs.split_first() else {
        return;
    };
    let marked: Option<BTreeSet<&str>> = tags
        .get(CERTIFICATES_TAG)
        .map(|v| v.split(',').filter(|m| !m.is_empty()).collect());
    let wanted: BTreeSet<String> = certificate_arns(desired).into_iter().skip(1).collect();
    let mut kept = vec![default.clone()];
    kept.extend(
        extras
            .iter()
            .filter(|a| match &marked {
                Some(m) => m.contains(mark(a).as_str()),
                None => wanted.contains(*a),
            })
            .cloned(),
    );
    if kept.len() != certs.len() {
        let v: Vec<Value> = kept.iter().map(|a| json!({"CertificateArn": a})).collect();
        props.insert("Certificates".into(), Value::Array(v));
    }
}

/// `Certificates` as translate lists them: the default one first; `None` when there are none.
pub fn certificates_value(certs: &[Certificate]) -> Option<Value> {
    let mut certs: Vec<&Certificate> = certs.iter().collect();
    certs.sort_by_key(|c| !c.is_default().unwrap_or(false));
    let v: Vec<Value> = certs
        .iter()
        .filter_map(|c| c.certificate_arn())
        .map(|arn| json!({"CertificateArn": arn}))
        .collect();
    (!v.is_empty()).then_some(Value::Array(v))
}

pub(crate) fn certificate_arns(p: Option<&Map<String, Value>>) -> Vec<String> {
    entries(p, "Certificates", |c| vstr(c, "CertificateArn"))
}

pub(crate) fn cert(arn: &str) -> Certificate {
    Certificate::builder().certificate_arn(arn).build()
}

/// A listener as translate describes it, named `<lb name>:<port>`. `certificates`: the full
/// list when described (DescribeListenerCertificates), else the default one from the listener.
pub fn listener_resource(
    lb_name: &str,
    l: &Listener,
    certificates: Option<&[Certificate]>,
) -> Resource {
    let port = l.port().unwrap_or_default();
    let mut m = Map::new();
    put(&mut m, "LoadBalancerArn", l.load_balancer_arn());
    m.insert("Port".into(), json!(port));
    put(&mut m, "Protocol", l.protocol().map(|p| p.as_str()));
    if let Some(v) = certificates_value(certificates.unwrap_or(l.certificates())) {
        m.insert("Certificates".into(), v);
    }
    put(&mut m, "SslPolicy", l.ssl_policy());
    if !l.alpn_policy().is_empty() {
        m.insert("AlpnPolicy".into(), json!(l.alpn_policy()));
    }
    m.insert(
        "DefaultActions".into(),
        Value::Array(l.default_actions().iter().map(action_value).collect()),
    );
    Resource {
        kind: KIND_LISTENER.into(),
        name: translate::listener_name(lb_name, u16::try_from(port).unwrap_or_default()),
        properties: m,
    }
}

impl AwsProvider {
    pub(crate) async fn create_listener(
        &self,
        c: &Change,
        p: &Map<String, Value>,
    ) -> Result<String> {
        let certs = certificate_arns(Some(p));
        let req = self
            .elb
            .create_listener()
            .load_balancer_arn(required(c, p, "LoadBalancerArn")?)
            .set_port(int_of(p, "Port"))
            .protocol(ProtocolEnum::from(required(c, p, "Protocol")?))
            // The first certificate is the default one; the others are added below.
            .set_certificates(certs.first().map(|a| vec![cert(a)]))
            .set_ssl_policy(str_of(p, "SslPolicy").map(String::from))
            .set_alpn_policy(strings_of(p.get("AlpnPolicy")))
            .set_default_actions(Some(sdk_actions(p, "DefaultActions")))
            .set_tags(Some(sdk_tags(&pairs(Some(p), "Tags"))).filter(|t| !t.is_empty()));
        let out = self
            .call(ops::CREATE_LISTENER, || req.clone().send())
            .await?;
        let arn = returned(
            "CreateListener",
            "ARN",
            out.listeners().first().and_then(|l| l.listener_arn()),
        )?;
        if certs.len() > 1 {
            self.add_certificates(&arn, &certs[1..]).await?;
        }
        Ok(arn)
    }

    pub(crate) async fn add_certificates(&self, arn: &str, certs: &[String]) -> Result<()> {
        let req = self
            .elb
            .add_listener_certificates()
            .listener_arn(arn)
            .set_certificates(Some(certs.iter().map(|a| cert(a)).collect()));
        self.call(ops::ADD_LISTENER_CERTIFICATES, || req.clone().send())
            .await?;
        Ok(())
    }

    pub(crate) async fn update_listener(
        &self,
        c: &Change,
        arn: &str,
        p: &Map<String, Value>,
    ) -> Result<()> {
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if changed("Tags") {
            self.add_tags(arn, p, c.current.as_ref()).await?;
            if c.changed.iter().all(|k| k == "Tags") {
                return Ok(());
            }
        }
        let certs = certificate_arns(Some(p));
        let mut req = self.elb.modify_listener().listener_arn(arn);
        // Only what changed (a protocol is sent only when it changes: some emulators refuse
        // TLS/UDP in ModifyListener).
        if changed("Port") {
            req = req.set_port(int_of(p, "Port"));
        }
        if changed("Protocol") {
            req = req.set_protocol(str_of(p, "Protocol").map(ProtocolEnum::from));
        }
        if changed("Protocol") || changed("SslPolicy") {
            req = req.set_ssl_policy(str_of(p, "SslPolicy").map(String::from));
        }
        if changed("Protocol") || changed("Certificates") {
            req = req.set_certificates(certs.first().map(|a| vec![cert(a)]));
        }
        if changed("AlpnPolicy") {
            req = req.set_alpn_policy(strings_of(p.get("AlpnPolicy")));
        }
        if changed("DefaultActions") {
            req = req.set_default_actions(Some(sdk_actions(p, "DefaultActions")));
        }
        self.call(ops::MODIFY_LISTENER, || req.clone().send())
            .await?;

        if changed("Certificates") {
            // The additional (SNI) certificates: as listed, beyond the default one. `have` is
            // berth's own, as observed (someone else's are not in it, so never removed).
            let have: BTreeSet<String> = certificate_arns(c.current.as_ref())
                .into_iter()
                .skip(1)
                .collect();
            let want: BTreeSet<String> = certs.iter().skip(1).cloned().collect();
            let add: Vec<String> = want.difference(&have).cloned().collect();
            let remove: Vec<String> = have
                .difference(&want)
                .filter(|a| certs.first() != Some(*a))
                .cloned()
                .collect();
            if !add.is_empty() {
                self.add_certificates(arn, &add).await?;
            }
            if !remove.is_empty() {
                let r = self
                    .elb
                    .remove_listener_certificates()
                    .listener_arn(arn)
                    .set_certificates(Some(remove.iter().map(|a| cert(a)).collect()));
                self.call(ops::REMOVE_LISTENER_CERTIFICATES, || r.clone().send())
                    .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn listeners_of(&self, lb_arn: &str) -> Result<Vec<Listener>> {
        self.all_pages(
            ops::DESCRIBE_LISTENERS,
            |m| {
                self.elb
                    .describe_listeners()
                    .load_balancer_arn(lb_arn)
                    .set_marker(m)
                    .send()
            },
            |p| (p.listeners, p.next_marker),
        )
        .await
    }

    pub(crate) async fn listener_certificates(
        &self,
        listener_arn: &str,
    ) -> Result<Vec<Certificate>> {
        self.all_pages(
            ops::DESCRIBE_LISTENER_CERTIFICATES,
            |m| {
                self.elb
                    .describe_listener_certificates()
                    .listener_arn(listener_arn)
                    .set_marker(m)
                    .send()
            },
            |p| (p.certificates, p.next_marker),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(certs: &[&str]) -> Map<String, Value> {
        let v: Vec<Value> = certs.iter().map(|a| json!({"CertificateArn": a})).collect();
        json!({"Certificates": v}).as_object().cloned().unwrap()
    }

    #[test]
    fn only_the_extra_certificates_berth_marked_are_its_own() {
        let tags = certificates_mark(&["d".into(), "b1".into(), "b2".into()]);
        assert!(marks_certificates(&tags));
        assert_eq!(certificates_mark(&["d".into()]), BTreeMap::new());

        // Someone added "x": it drops out of what berth observes (so it is never removed).
        let mut seen = listener(&["d", "b1", "x", "b2"]);
        keep_own_certificates(&mut seen, &tags, None);
        assert_eq!(certificate_arns(Some(&seen)), ["d", "b1", "b2"]);

        // berth's old extras stay berth's after the desired listener drops them (removed then).
        let mut seen = listener(&["d", "b1", "x"]);
        keep_own_certificates(&mut seen, &tags, Some(&listener(&["d"])));
        assert_eq!(certificate_arns(Some(&seen)), ["d", "b1"]);

        // A listener from before the mark: the extras the desired listener lists are adopted,
        // the others are left alone.
        let mut seen = listener(&["d", "b1", "x"]);
        keep_own_certificates(&mut seen, &Tags::new(), Some(&listener(&["d", "b1"])));
        assert_eq!(certificate_arns(Some(&seen)), ["d", "b1"]);
    }
}
