//! A TCP fault proxy for end-to-end tests: forwards connections to a
//! target, and on command passes traffic, holds it (a partition where
//! packets vanish), or cuts every connection and refuses new ones.

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
}

/// A running proxy.
pub struct FaultProxy {
    /// The proxy's address.
    pub address: String,
    mode: Arc<watch::Sender<Mode>>,
}

impl FaultProxy {
    /// Starts a proxy to `target` on a free loopback port.
    pub async fn start(target: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let (tx, rx) = watch::channel(Mode::Pass);
        tokio::spawn(async move {
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
        FaultProxy {
            address,
            mode: Arc::new(tx),
        }
    }

    /// Switches mode; `Drop` also cuts the connections open now.
    pub fn set(&self, mode: Mode) {
        let _ = self.mode.send(mode);
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
