//! `AWS::ElasticLoadBalancingV2::Listener`: its shape (default certificate first, forward
//! configs folded), DescribeListeners per load balancer, the extra (SNI) certificates, and
//! CreateListener / ModifyListener (only what changed) / the certificate delta.

use super::*;
use crate::aws::client::AwsProvider;
use crate::aws::operations as ops;
use crate::aws::{translate, KIND_LISTENER};
use crate::error::Result;
use crate::plan::{Change, Resource};
use aws_sdk_elasticloadbalancingv2::types::{Certificate, Listener, ProtocolEnum};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

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
    let mut certs: Vec<&Certificate> = certificates.unwrap_or(l.certificates()).iter().collect();
    // The default certificate first, as translate lists it.
    certs.sort_by_key(|c| !c.is_default().unwrap_or(false));
    let certs: Vec<Value> = certs
        .iter()
        .filter_map(|c| c.certificate_arn())
        .map(|arn| json!({"CertificateArn": arn}))
        .collect();
    if !certs.is_empty() {
        m.insert("Certificates".into(), Value::Array(certs));
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
            // The additional (SNI) certificates: as listed, beyond the default one.
            let have: BTreeSet<String> = self
                .listener_certificates(arn)
                .await?
                .iter()
                .filter(|c| !c.is_default().unwrap_or(false))
                .filter_map(|c| c.certificate_arn().map(String::from))
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
