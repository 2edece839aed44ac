//! The lab's TCP fault proxy ([`trama_lab::sandbox::proxy`]), started by
//! hand where a test needs one the sandbox did not place.

use std::ops::Deref;

#[allow(unused_imports, reason = "each test file uses a part of them")]
pub use trama_lab::sandbox::proxy::Mode;

/// A running proxy (the lab's, with its `address` and `set`).
pub struct FaultProxy(trama_lab::sandbox::FaultProxy);

impl FaultProxy {
    /// Starts a proxy to `target` on a free loopback port.
    pub async fn start(target: String) -> FaultProxy {
        FaultProxy(
            trama_lab::sandbox::FaultProxy::start(target)
                .await
                .expect("the proxy starts"),
        )
    }
}

impl Deref for FaultProxy {
    type Target = trama_lab::sandbox::FaultProxy;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
