//! Routing follows the discovery document: every method of the subset is reachable at its own
//! path and nowhere else; query parameters are the method's, the document's and the client's.

mod common;

use common::start;
use gcp_fake::discovery::{Api, Seg};
use serde_json::json;

fn sample_path(segs: &[Seg]) -> String {
    let parts: Vec<String> = segs
        .iter()
        .map(|s| match s {
            Seg::Lit(l) => l.clone(),
            Seg::Param(p) if p == "project" => "p".to_string(),
            Seg::Param(p) if p == "region" => "us-central1".to_string(),
            Seg::Param(p) if p == "zone" => "us-central1-a".to_string(),
            Seg::Param(_) => "x".to_string(),
        })
        .collect();
    parts.join("/")
}

#[tokio::test]
async fn every_method_of_the_document_is_routed_to_itself() {
    let c = start().await;
    let api = Api::get();
    let documented = api.routes.iter().filter(|r| r.resource != "zoneOperations");
    assert_eq!(documented.count(), 159, "the subset has 159 methods");
    for route in &api.routes {
        let path = sample_path(&route.segs);
        let body = route.request.as_ref().map(|_| json!({}));
        let reply = c.call(&route.http_method, &path, body).await;
        let want = format!("{}.{}", route.resource, route.method);
        assert_eq!(
            reply.routed, want,
            "{} {path}: {}",
            route.http_method, reply.body
        );
        assert!(
            !reply.message().contains("requested URL"),
            "{want}: {}",
            reply.body
        );
    }
    c.assert_no_violations();
}

#[tokio::test]
async fn paths_and_methods_outside_the_document_are_404() {
    let c = start().await;
    let cases = [
        ("GET", "projects/p/global/networks/default"),
        ("GET", "projects/p/global/healthChecks/a/b"),
        ("PUT", "projects/p/global/urlMaps"),
        ("DELETE", "projects/p/global/healthChecks"),
        ("PUT", "projects/p/global/forwardingRules/fr"),
        // setUrlMap is documented without `global/` (and the HTTPS one too).
        ("POST", "projects/p/global/targetHttpProxies/t/setUrlMap"),
        (
            "POST",
            "projects/p/global/targetHttpsProxies/t/setSslCertificates",
        ),
        ("GET", "projects/p/zones/z/instances/i"),
        ("GET", "projects/p/global/healthChecks/"),
    ];
    for (method, path) in cases {
        let reply = c.call(method, path, None).await;
        assert_eq!(
            (reply.status, reply.reason()),
            (404, "notFound"),
            "{method} {path}"
        );
        assert!(reply.message().contains("requested URL"), "{}", reply.body);
        assert_eq!(reply.routed, "", "{method} {path}");
    }
    let outside = c.fake.url();
    assert!(outside.starts_with("http://127.0.0.1:"), "{outside}");
}

#[tokio::test]
async fn specific_templates_win_over_parameters() {
    let c = start().await;
    let cases = [
        (
            "GET",
            "projects/p/global/backendServices/listUsable",
            "backendServices.listUsable",
        ),
        (
            "GET",
            "projects/p/global/backendServices/bs",
            "backendServices.get",
        ),
        (
            "GET",
            "projects/p/global/sslPolicies/listAvailableFeatures",
            "sslPolicies.listAvailableFeatures",
        ),
        (
            "POST",
            "projects/p/targetHttpProxies/t/setUrlMap",
            "targetHttpProxies.setUrlMap",
        ),
        (
            "GET",
            "projects/p/zones/z/operations/op",
            "zoneOperations.get",
        ),
        (
            "GET",
            "projects/p/regions/r/backendServices/bs",
            "regionBackendServices.get",
        ),
    ];
    for (method, path, want) in cases {
        let reply = c.call(method, path, None).await;
        assert_eq!(reply.routed, want, "{method} {path}");
    }
}

#[tokio::test]
async fn query_parameters_are_checked() {
    let c = start().await;
    let list = "projects/p/global/healthChecks";
    let cases = [
        ("maxResults=2&pageToken=a&filter=x&orderBy=name", 200),
        ("$alt=json&$apiVersion=v1&requestId=abc", 200),
        ("alt=json&prettyPrint=false&quotaUser=u&fields=items", 200),
        ("maxResult=2", 400),
        ("view=FULL", 400),
        ("maxResults=two", 400),
    ];
    for (query, want) in cases {
        let reply = c.get(&format!("{list}?{query}")).await;
        assert_eq!(reply.status, want, "{query}: {}", reply.body);
    }
    let reply = c
        .get("projects/p/global/forwardingRules/fr?view=FULL")
        .await;
    assert_eq!(
        reply.status, 404,
        "view is a forwarding rule get parameter: {}",
        reply.body
    );
    assert!(!reply.message().contains("requested URL"));
}
