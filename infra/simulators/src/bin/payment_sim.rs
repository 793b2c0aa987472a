//! Payment-gateway simulator on 127.0.0.1:$PORT (default 4020).
#[tokio::main]
async fn main() -> std::io::Result<()> {
    simulators::run_standalone("payment-gateway", simulators::payment::router(), 4020).await
}
