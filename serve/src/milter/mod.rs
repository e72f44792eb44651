//! The milter listener: one task per MTA connection.
//!
//! [`codec`] is the wire format, [`session`] the per-connection state
//! machine, [`client`] the MTA's side (tests and the load generator).

pub mod client;
pub mod codec;
pub mod session;

use crate::{ServeError, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Accepts milter connections until shutdown, then waits for the open
/// sessions to finish their messages.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> Result<(), ServeError> {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    let mut sessions = JoinSet::new();
    let mut shutdown = shared.shutdown.clone();
    if let Ok(a) = listener.local_addr() {
        tracing::info!(target: "mailward::serve", "milter listening on {a}");
    }
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = crate::stopped(&mut shutdown) => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(target: "mailward::serve", "milter accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = crate::stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        sessions.spawn(async move {
            let _permit = permit;
            let metrics = shared.checker.metrics().clone();
            metrics.milter_session(1);
            if let Err(e) = session::run(stream, &shared).await {
                if matches!(
                    e,
                    crate::SessionError::Protocol(_) | crate::SessionError::Sequence(_)
                ) {
                    metrics.protocol_error();
                }
                tracing::warn!(target: "mailward::serve", %peer, "{e}");
            }
            metrics.milter_session(-1);
        });
        while sessions.try_join_next().is_some() {}
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
    Ok(())
}
