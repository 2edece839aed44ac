//! The bare fan-out skeleton: the physical limit of the gateway's design
//! on this machine, for `trama bench federation` to set the gateway
//! against in the same run. A front server answers `GetRecord` by asking
//! four echo servers `FetchRecord` at once, over mutual TLS with the
//! federation's certificates as the gateway and the connectors present
//! them, and by putting their answers side by side; nothing else: no role
//! check, no policy, no audit, no locator, no merge. Each echo answers the
//! record its partner's real connector gave for one person, so the bytes
//! on the wire are the real ones. The skeleton runs on its own runtime with
//! two worker threads, as a process of its own would, in the bench's
//! process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tonic::codegen::{Service, http};
use tonic::server::{NamedService, UnaryService};
use tonic::transport::Channel;
use trama_proto::v1::{self, connector_client::ConnectorClient};
use trama_tls::client::ExpectedPeer;
use trama_tls::{Role, TlsFiles};

use crate::sandbox::FEDERATION;

/// A running skeleton; stopped when dropped.
pub struct Skeleton {
    /// The front's address, as a client profile names a gateway.
    pub address: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Skeleton {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One echo: the partner it stands for, with its certificate, and what it
/// answers.
pub struct EchoOf {
    /// The partner's organisation.
    pub organisation: String,
    /// The partner connector's certificate and key.
    pub tls: TlsFiles,
    /// The answer its real connector gave.
    pub answer: v1::FetchRecordResponse,
}

/// Starts the echoes and the front: the front presents `front_tls` (the
/// gateway's certificate) to clients and to the echoes.
pub async fn start(front_tls: TlsFiles, echoes: Vec<EchoOf>) -> anyhow::Result<Skeleton> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("skeleton")
        .enable_all()
        .build()?;
    let address = runtime
        .spawn(async move {
            let client_config = trama_tls::client::client_config(&front_tls)?;
            let mut clients = Vec::new();
            for echo in echoes {
                let address = serve(&echo.tls, Echo(Arc::new(echo.answer))).await?;
                let channel = trama_tls::client::channel(
                    &format!("localhost:{}", address.port()),
                    client_config.clone(),
                    ExpectedPeer {
                        federation: FEDERATION.into(),
                        organisation: Some(echo.organisation),
                        role: Role::Connector,
                    },
                    Duration::from_secs(5),
                )?;
                clients.push(ConnectorClient::new(channel).max_decoding_message_size(64 << 20));
            }
            let front = serve(&front_tls, Front(Arc::new(clients))).await?;
            anyhow::Ok(format!("localhost:{}", front.port()))
        })
        .await??;
    Ok(Skeleton {
        address,
        runtime: Some(runtime),
    })
}

/// Serves `service` over mutual TLS on a free loopback port.
async fn serve<S>(tls: &TlsFiles, service: S) -> anyhow::Result<SocketAddr>
where
    S: Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let incoming = trama_tls::server::incoming(listener, trama_tls::server::server_config(tls)?);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    Ok(address)
}

/// Answers `path` with `method`, anything else `UNIMPLEMENTED`.
fn route<Req, Res, M>(
    path: &'static str,
    method: M,
    request: http::Request<tonic::body::Body>,
) -> BoxFuture<'static, Result<http::Response<tonic::body::Body>, Infallible>>
where
    Req: prost::Message + Default + Send + 'static,
    Res: prost::Message + Send + 'static,
    M: UnaryService<Req, Response = Res> + Send + 'static,
    M::Future: Send,
{
    Box::pin(async move {
        if request.uri().path() != path {
            return Ok(tonic::Status::unimplemented("the skeleton answers one call").into_http());
        }
        let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<Res, Req>::default());
        Ok(grpc.unary(method, request).await)
    })
}

/// A gRPC service of one unary call at `path`, answered by the type's
/// `UnaryService`.
macro_rules! one_call {
    ($service:ty, $path:literal) => {
        impl Service<http::Request<tonic::body::Body>> for $service {
            type Response = http::Response<tonic::body::Body>;
            type Error = Infallible;
            type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
                route($path, self.clone(), request)
            }
        }
    };
}

/// An echo server: every `FetchRecord` gets the same answer.
#[derive(Clone)]
struct Echo(Arc<v1::FetchRecordResponse>);

impl NamedService for Echo {
    const NAME: &'static str = "trama.v1.Connector";
}

one_call!(Echo, "/trama.v1.Connector/FetchRecord");

impl UnaryService<v1::FetchRecordRequest> for Echo {
    type Response = v1::FetchRecordResponse;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, _request: tonic::Request<v1::FetchRecordRequest>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(self.0.as_ref().clone())))
    }
}

/// The front: `GetRecord` asked of every echo at once, the answers side by
/// side.
#[derive(Clone)]
struct Front(Arc<Vec<ConnectorClient<Channel>>>);

impl NamedService for Front {
    const NAME: &'static str = "trama.v1.Federation";
}

one_call!(Front, "/trama.v1.Federation/GetRecord");

impl UnaryService<v1::GetRecordRequest> for Front {
    type Response = v1::GetRecordResponse;
    type Future = BoxFuture<'static, Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<v1::GetRecordRequest>) -> Self::Future {
        let clients = self.0.clone();
        let request = request.into_inner();
        Box::pin(async move {
            let asks = clients.iter().map(|client| {
                let mut client = client.clone();
                let ask = v1::FetchRecordRequest {
                    context: request.context.clone(),
                    client_organisation: "comune".into(),
                    tax_code: request
                        .subject
                        .as_ref()
                        .map(|s| s.tax_code.clone())
                        .unwrap_or_default(),
                    local_id: String::new(),
                    sections: request.sections.clone(),
                };
                async move { client.fetch_record(ask).await }
            });
            let answers = futures_util::future::join_all(asks).await;
            Ok(tonic::Response::new(side_by_side(answers)))
        })
    }
}

/// The echoes' answers in one response, entries appended, no merge.
fn side_by_side(
    answers: Vec<Result<tonic::Response<v1::FetchRecordResponse>, tonic::Status>>,
) -> v1::GetRecordResponse {
    let mut record = v1::Record::default();
    let mut sections = v1::RecordSections::default();
    let mut outcomes = Vec::with_capacity(answers.len());
    for answer in answers {
        let status = match answer {
            Ok(answer) => {
                let answer = answer.into_inner();
                record.identities.extend(answer.identity);
                if let Some(s) = answer.sections {
                    append(&mut sections, s);
                }
                v1::OutcomeStatus::Ok
            }
            Err(_) => v1::OutcomeStatus::Error,
        };
        outcomes.push(v1::SourceOutcome {
            status: status as i32,
            ..Default::default()
        });
    }
    record.sections = Some(sections);
    let partial = outcomes
        .iter()
        .any(|o| o.status != v1::OutcomeStatus::Ok as i32);
    v1::GetRecordResponse {
        record: Some(record),
        outcomes,
        partial,
    }
}

/// Appends every entry of `more` to `into`.
fn append(into: &mut v1::RecordSections, more: v1::RecordSections) {
    into.housing.extend(more.housing);
    into.socio_economic.extend(more.socio_economic);
    into.support_network.extend(more.support_network);
    into.needs.extend(more.needs);
    into.judicial_acts.extend(more.judicial_acts);
    into.court_relations.extend(more.court_relations);
    into.referrals.extend(more.referrals);
    into.interventions.extend(more.interventions);
    into.health.extend(more.health);
    into.case_memberships.extend(more.case_memberships);
}
