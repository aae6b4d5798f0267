//! Every AWS call is bounded: an endpoint that accepts connections and never answers, and one
//! that returns the same page marker forever, both end in an error instead of a hang. The
//! "endpoints" are tiny servers on 127.0.0.1 made by the test (no emulator needed); the real SDK
//! clients talk to them.
#![cfg(feature = "aws")]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use providers::aws::client::Timeouts;
use providers::aws::AwsProvider;
use providers::frontend::ObjectRef;
use providers::metrics::CallCounter;
use providers::Provider;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
            aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "test"),
        ))
        .build()
}

fn provider(endpoint: &str, timeouts: Timeouts) -> (AwsProvider, Arc<CallCounter>) {
    let calls = Arc::new(CallCounter::default());
    let p = AwsProvider::with_timeouts(
        &config(endpoint),
        "c1".into(),
        None,
        calls.clone(),
        timeouts,
    );
    (p, calls)
}

/// The test's own guard: if berth hung, this fails instead of the suite hanging.
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_endpoint_that_never_answers_is_an_error_not_a_hang() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts every connection, reads nothing, answers nothing, keeps it open.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_millis(500),
        deadline: Duration::from_secs(3),
    };
    let (p, calls) = provider(&format!("http://{addr}"), timeouts);
    let owner = ObjectRef::service("shop", "web");
    let r = tokio::time::timeout(GUARD, p.observe(&owner, "c1", &[]))
        .await
        .expect("observe must end on its own, bounded by the call deadline");
    let err = r.expect_err("nothing answered");
    let msg = err.to_string();
    assert!(
        msg.contains("timed out") || msg.contains("deadline"),
        "says it timed out: {msg}"
    );
    assert!(
        matches!(
            err,
            providers::Error::Cloud {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        calls.by_operation().values().sum::<u64>() >= 2,
        "the timed-out attempt was retried: {:?}",
        calls.by_operation()
    );
}

/// Answers EC2's DescribeSecurityGroups with no groups, the tagging API's GetResources (the
/// inventory's listing) with an empty page whose PaginationToken is always the same, and
/// anything else (ELBv2) with an empty DescribeLoadBalancers page whose NextMarker is too.
async fn serve_a_marker_loop(listener: TcpListener) {
    while let Ok((mut sock, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                // One request: headers, then Content-Length bytes of form body.
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        let body =
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                        buf.drain(..end + 4 + len);
                        let head = text[..end].to_ascii_lowercase();
                        let json = head.contains("x-amz-target: resourcegroupstaggingapi");
                        let payload = if json {
                            r#"{"PaginationToken":"the-same-marker","ResourceTagMappingList":[]}"#
                        } else if body.contains("Action=DescribeSecurityGroups") {
                            r#"<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId><securityGroupInfo/></DescribeSecurityGroupsResponse>"#
                        } else {
                            r#"<DescribeLoadBalancersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeLoadBalancersResult><LoadBalancers/><NextMarker>the-same-marker</NextMarker></DescribeLoadBalancersResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>"#
                        };
                        let kind = if json {
                            "application/x-amz-json-1.1"
                        } else {
                            "text/xml"
                        };
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n{payload}",
                            payload.len()
                        );
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
    }
}

#[tokio::test]
async fn a_page_marker_that_repeats_ends_the_listing_with_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_a_marker_loop(listener));
    let (p, calls) = provider(&format!("http://{addr}"), Timeouts::default());
    let owner = ObjectRef::service("shop", "web");
    let r = tokio::time::timeout(GUARD, p.observe(&owner, "c1", &[]))
        .await
        .expect("observe must not page forever");
    let msg = r.expect_err("a repeated marker is an error").to_string();
    assert!(
        msg.contains("GetResources")
            && msg.contains("the-same-marker")
            && msg.contains("second time"),
        "{msg}"
    );
    assert_eq!(
        calls.by_operation().get("GetResources"),
        Some(&2),
        "the second page with the same marker stops it"
    );
}
