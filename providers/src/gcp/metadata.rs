//! On GKE (or any Compute Engine VM) the metadata server knows the project and the zone the
//! pod runs in: `berth run --cloud gcp` uses them when `--gcp-project` / `--gcp-region` are not
//! given. Off Google Cloud it does not answer; the caller then names the missing flag.
//! `GCE_METADATA_HOST` points it elsewhere, as for Google's own libraries.

use super::facts::region_of_zone;
use std::time::Duration;

/// Google's metadata server, unless `GCE_METADATA_HOST` says otherwise.
pub fn host() -> String {
    std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "metadata.google.internal".to_string())
}

/// What the metadata server said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub project: Option<String>,
    pub region: Option<String>,
}

async fn get(client: &reqwest::Client, host: &str, path: &str) -> Option<String> {
    let url = format!("http://{host}/computeMetadata/v1/{path}");
    let r = client
        .get(url)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = r.text().await.ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The project and region from the metadata server at `host`, each `None` when it does not
/// answer within `timeout`.
pub async fn discover(host: &str, timeout: Duration) -> Found {
    let Ok(client) = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
    else {
        return Found::default();
    };
    let project = get(&client, host, "project/project-id").await;
    // `projects/123456/zones/us-central1-a`
    let region = get(&client, host, "instance/zone")
        .await
        .and_then(|z| z.rsplit('/').next().map(|z| region_of_zone(z).to_string()));
    Found { project, region }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A metadata server answering the project and zone, only with the Metadata-Flavor header.
    async fn server() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let body = if !req.contains("metadata-flavor: google") {
                    None
                } else if req.starts_with("get /computemetadata/v1/project/project-id") {
                    Some("shop-prod")
                } else if req.starts_with("get /computemetadata/v1/instance/zone") {
                    Some("projects/123/zones/europe-west1-b")
                } else {
                    None
                };
                let resp = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        addr.to_string()
    }

    #[tokio::test]
    async fn the_project_and_region_come_from_the_metadata_server_when_it_answers() {
        let host = server().await;
        let found = discover(&host, Duration::from_secs(2)).await;
        assert_eq!(found.project.as_deref(), Some("shop-prod"));
        assert_eq!(found.region.as_deref(), Some("europe-west1"));
        // Off Google Cloud: nothing, quickly.
        let started = std::time::Instant::now();
        let none = discover("127.0.0.1:9", Duration::from_millis(300)).await;
        assert_eq!(none, Found::default());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
