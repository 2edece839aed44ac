//! A TCP fault proxy: forwards connections to a target, and on command
//! passes traffic, holds it (a partition where packets vanish), or cuts
//! every connection and refuses new ones (a link that drops, or a server
//! that is down). The sandbox places one between the gateway and a
//! connector, or between a connector and its database server.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Keep connections open and forward nothing (a partition).
    Hold,
    /// Close every connection, and new ones at once (a dropping link).
    Drop,
    /// Forward what the client sends and lose every answer (the server
    /// acts, the client never hears back: a lost acknowledgement).
    LoseAnswers,
}

/// A running proxy; it stops forwarding when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// The proxy's address.
    pub address: String,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `target` on a free loopback port, passing traffic.
    pub async fn start(target: String) -> std::io::Result<FaultProxy> {
        FaultProxy::start_in(target, Mode::Pass).await
    }

    /// Starts a proxy to `target` on a free loopback port, in `mode`.
    pub async fn start_in(target: String, mode: Mode) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (tx, rx) = watch::channel(mode);
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if *rx.borrow() == Mode::Drop {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let rx = rx.clone();
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&target).await {
                        pipe(inbound, outbound, rx).await;
                    }
                });
            }
        });
        Ok(FaultProxy {
            address,
            mode: Arc::new(tx),
            task,
        })
    }

    /// Switches mode; `Drop` also cuts the connections open now.
    pub fn set(&self, mode: Mode) {
        let _ = self.mode.send(mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // No new connections; those open are cut as the mode's sender goes.
        self.task.abort();
    }
}

async fn pipe(a: TcpStream, b: TcpStream, mut mode: watch::Receiver<Mode>) {
    let (mut ar, mut aw) = a.into_split();
    let (mut br, mut bw) = b.into_split();
    let mut abuf = vec![0u8; 16 * 1024];
    let mut bbuf = vec![0u8; 16 * 1024];
    loop {
        let current = *mode.borrow();
        match current {
            Mode::Drop => return,
            Mode::Hold => {
                // Read nothing, forward nothing, until the mode changes.
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::LoseAnswers => {
                tokio::select! {
                    changed = mode.changed() => {
                        if changed.is_err() { return; }
                    }
                    n = ar.read(&mut abuf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if bw.write_all(&abuf[..n]).await.is_err() { return; },
                    },
                    // Read and thrown away.
                    n = br.read(&mut bbuf) => if matches!(n, Ok(0) | Err(_)) { return; },
                }
            }
            Mode::Pass => {
                tokio::select! {
                    changed = mode.changed() => {
                        if changed.is_err() { return; }
                    }
                    n = ar.read(&mut abuf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if bw.write_all(&abuf[..n]).await.is_err() { return; },
                    },
                    n = br.read(&mut bbuf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if aw.write_all(&bbuf[..n]).await.is_err() { return; },
                    },
                }
            }
        }
    }
}
