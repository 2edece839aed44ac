//! The deadline of the call being served. A caller says how long it will
//! wait in the `grpc-timeout` header; [`Deadlined`] reads it and keeps the
//! instant in a task-local for the call's whole handling, so that the wait
//! for a database connection ([`crate::source`]'s gate) is bounded by what
//! the caller will still accept rather than by a fixed limit: a call that
//! can still be served in time waits its turn, and only one that cannot is
//! refused.

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::futures::TaskLocalFuture;
use tokio::time::Instant;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

tokio::task_local! {
    static DEADLINE: Option<Instant>;
}

/// How long the call being served may still take: `None` outside a call or
/// when the caller set no deadline.
pub fn remaining() -> Option<Duration> {
    let deadline = DEADLINE.try_with(|d| *d).ok().flatten()?;
    Some(deadline.saturating_duration_since(Instant::now()))
}

/// Runs `work` as a call whose caller waits `timeout` at most (for tests
/// of what runs under a deadline).
#[cfg(test)]
pub(crate) async fn within<F: Future>(timeout: Option<Duration>, work: F) -> F::Output {
    DEADLINE
        .scope(timeout.map(|t| Instant::now() + t), work)
        .await
}

/// A `grpc-timeout` header's value: one to eight digits and a unit (`H`
/// hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds,
/// `n` nanoseconds), as the gRPC over HTTP/2 protocol writes it.
pub fn parse(header: &str) -> Option<Duration> {
    let split = header.len().checked_sub(1)?;
    let (digits, unit) = header.split_at_checked(split)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A gRPC service whose every call runs under the caller's deadline (see
/// [`remaining`]).
#[derive(Debug, Clone)]
pub struct Deadlined<S>(pub S);

impl<S: NamedService> NamedService for Deadlined<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Deadlined<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<Option<Instant>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let timeout = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        DEADLINE.scope(timeout.map(|t| Instant::now() + t), self.0.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_read_as_the_protocol_writes_them() {
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        for bad in ["", "S", "5", "5s", "123456789S", "-5S", "5 S", "5SS"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_deadline_is_known_only_inside_the_call() {
        assert_eq!(remaining(), None);
        within(Some(Duration::from_secs(3)), async {
            let left = remaining().unwrap_or_default();
            assert!(left > Duration::from_secs(2) && left <= Duration::from_secs(3));
        })
        .await;
        within(None, async { assert_eq!(remaining(), None) }).await;
    }
}
