//! Serves the fake for manual use: `gcp-fake [PORT]` (default 8089), on 127.0.0.1.

#[tokio::main]
async fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 8089,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("usage: gcp-fake [PORT]: {e}");
            std::process::exit(2);
        }
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let fake = match gcp_fake::Fake::start_on(addr).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gcp-fake: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", fake.url());
    let _ = tokio::signal::ctrl_c().await;
}
