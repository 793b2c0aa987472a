//! Wixtar simulator on 127.0.0.1:$PORT (default 4010).
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(4010);
    let running = simulators::serve(simulators::wixtar::router(), port).await?;
    eprintln!("wixtar simulator on {}", running.url());
    tokio::signal::ctrl_c().await
}
