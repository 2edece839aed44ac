//! The role check every Trama service applies: a tonic interceptor that
//! admits only callers whose certificate carries an allowed role in the
//! node's own federation, and records the caller's identity in the request.

use tonic::{Request, Status};

use crate::identity::{NodeIdentity, Role};
use crate::server::PeerInfo;

/// Admits callers of one role from one federation.
#[derive(Debug, Clone)]
pub struct RequireRole {
    federation: String,
    role: Role,
    service: &'static str,
}

impl RequireRole {
    /// Admits `role` identities of `federation` on `service` (used in
    /// messages and logs).
    pub fn new(federation: &str, role: Role, service: &'static str) -> Self {
        RequireRole {
            federation: federation.to_string(),
            role,
            service,
        }
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
