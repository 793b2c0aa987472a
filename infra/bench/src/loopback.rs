//! An HTTP server on a free 127.0.0.1 port.

use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves `router` until the handle is aborted; `what` names it in a failure. Its connections
/// send without Nagle delay, as a real endpoint's small answers do.
pub async fn serve(router: Router, what: &str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind {what}: {e:?}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{what} address: {e:?}"));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, server)
}
