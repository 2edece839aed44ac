//! The role check every Trama service applies: a tonic interceptor that
//! admits only callers whose certificate carries an allowed role in the
//! node's own federation, and records the caller's identity in the request.
//! With [`RequireRole::with_revocation`] it also refuses callers whose
//! certificate the current CRL lists, on every call, so a connection opened
//! before a revocation is cut off at its next call.

use tonic::{Request, Status};

use crate::identity::{NodeIdentity, Role};
use crate::reload::TlsState;
use crate::serial_hex;
use crate::server::PeerInfo;

/// Admits callers of one role from one federation.
#[derive(Debug, Clone)]
pub struct RequireRole {
    federation: String,
    role: Role,
    service: &'static str,
    revocation: Option<TlsState>,
}

impl RequireRole {
    /// Admits `role` identities of `federation` on `service` (used in
    /// messages and logs).
    pub fn new(federation: &str, role: Role, service: &'static str) -> Self {
        RequireRole {
            federation: federation.to_string(),
            role,
            service,
            revocation: None,
        }
    }

    /// Also refuses callers whose certificate serial is revoked in the CRL
    /// current in `state` at the time of each call.
    pub fn with_revocation(mut self, state: TlsState) -> Self {
        self.revocation = Some(state);
        self
    }

    /// Checks the caller of `request`.
    pub fn check<T>(&self, request: &Request<T>) -> Result<NodeIdentity, Status> {
        let peer = request.extensions().get::<PeerInfo>().ok_or_else(|| {
            Status::unauthenticated("no verified client certificate on this connection")
        })?;
        let refuse = |why: String| {
            tracing::warn!(
                peer = ?peer.remote_addr,
                service = self.service,
                reason = %why,
                "caller refused"
            );
            Status::permission_denied(why)
        };
        if let Some(state) = &self.revocation
            && state.is_revoked(&peer.serial)
        {
            let holder = match &peer.identity {
                Ok(identity) => identity.to_string(),
                Err(_) => "without federation identity".to_string(),
            };
            return Err(refuse(format!(
                "certificate {holder} (serial {}) has been revoked",
                serial_hex(&peer.serial)
            )));
        }
        let identity = match &peer.identity {
            Ok(identity) => identity,
            Err(e) => return Err(refuse(format!("client certificate: {e}"))),
        };
        if identity.federation != self.federation {
            return Err(refuse(format!(
                "certificate identity {identity} belongs to federation {}, not {}",
                identity.federation, self.federation
            )));
        }
        if identity.role != self.role {
            return Err(refuse(format!(
                "certificate identity {identity} has role {}; {} accepts only role {}",
                identity.role, self.service, self.role
            )));
        }
        Ok(identity.clone())
    }
}

impl tonic::service::Interceptor for RequireRole {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let identity = self.check(&request)?;
        request.extensions_mut().insert(identity);
        Ok(request)
    }
}
