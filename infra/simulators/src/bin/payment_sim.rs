//! Payment-gateway simulator on 127.0.0.1:$PORT (default 4020).
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(4020);
    let running = simulators::serve(simulators::payment::router(), port).await?;
    eprintln!("payment-gateway simulator on {}", running.url());
    tokio::signal::ctrl_c().await
}
