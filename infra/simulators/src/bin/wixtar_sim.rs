//! Wixtar simulator on 127.0.0.1:$PORT (default 4010).
#[tokio::main]
async fn main() -> std::io::Result<()> {
    simulators::run_standalone("Wixtar", simulators::wixtar::router(), 4010).await
}
