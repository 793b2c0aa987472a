//! Local stand-ins for Wixtar (美麗科技) and the payment gateway, speaking the wire formats in
//! docs/, with `/_sim` admin endpoints to inspect what they received and to inject faults.

pub mod faults;
pub mod payment;
pub mod wixtar;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A simulator running on 127.0.0.1; dropping it does not stop it, [`Running::stop`] does.
pub struct Running {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on 127.0.0.1:`port` (0 picks a free port).
pub async fn serve(router: axum::Router, port: u16) -> std::io::Result<Running> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("simulator on {addr} stopped: {e}");
        }
    });
    Ok(Running { addr, task })
}

/// A simulator as its own process: 127.0.0.1:$PORT (else `default_port`) until Ctrl-C.
pub async fn run_standalone(name: &str, router: axum::Router, default_port: u16) -> std::io::Result<()> {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(default_port);
    let running = serve(router, port).await?;
    eprintln!("{name} simulator on {}", running.url());
    tokio::signal::ctrl_c().await
}
