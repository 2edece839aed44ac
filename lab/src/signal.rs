//! Stopping a lab command that keeps a federation running: Ctrl-C
//! (SIGINT) and SIGTERM are caught, so the command stops the processes it
//! started before it exits instead of leaving them behind.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

/// Completes when the process receives SIGINT or SIGTERM. The handlers are
/// installed when this is called, not when the future is first polled, so
/// a signal that arrives meanwhile is not lost (nor kills the process).
pub fn stop_requested() -> impl Future<Output = ()> {
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let (Ok(mut term), Ok(mut interrupt)) = (term, interrupt) else {
            // Without handlers the signals keep their default action.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("stopping");
    }
}
