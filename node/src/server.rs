//! The gRPC server's standard parts: server reflection (`v1` and `v1alpha`,
//! since stock clients speak either) advertising exactly the services the
//! node serves, and the answer to an over-size request.

use tonic::Code;
use tonic::codegen::http;
use tower::util::MapResponseLayer;

/// Why the reflection service cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("server reflection: {0}")]
pub struct ReflectionError(String);

fn reflection_builder(services: &[&str]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(trama_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for name in services {
        builder = builder.with_service_name(*name);
    }
    builder
}

/// The services a node advertises: its own, health and reflection.
fn advertised(own: &str, reflection: &str) -> [String; 3] {
    [
        own.to_string(),
        "grpc.health.v1.Health".to_string(),
        reflection.to_string(),
    ]
}

/// Server reflection `v1` advertising `own`, health and reflection itself
/// (not every service of the schema: a gateway does not serve
/// `trama.v1.Connector`), able to describe all of them.
pub fn reflection_v1(
    own: &str,
) -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    ReflectionError,
> {
    let names = advertised(own, "grpc.reflection.v1.ServerReflection");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    reflection_builder(&names)
        .build_v1()
        .map_err(|e| ReflectionError(e.to_string()))
}

/// The same in `v1alpha`, for clients that speak only that version.
pub fn reflection_v1alpha(
    own: &str,
) -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    ReflectionError,
> {
    let names = advertised(own, "grpc.reflection.v1alpha.ServerReflection");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    reflection_builder(&names)
        .build_v1alpha()
        .map_err(|e| ReflectionError(e.to_string()))
}

/// A layer that answers a request over the size limit with
/// `RESOURCE_EXHAUSTED` naming the limit and the key that sets it, instead
/// of tonic's `OUT_OF_RANGE` (which says the client's value is out of
/// range, and is not retried or reported as a limit by clients). Nothing
/// else a Trama service answers is `OUT_OF_RANGE`.
pub fn too_large_is_exhausted<B>(
    limit: usize,
    key: &'static str,
) -> MapResponseLayer<impl Fn(http::Response<B>) -> http::Response<B> + Clone> {
    MapResponseLayer::new(move |mut response: http::Response<B>| {
        let headers = response.headers_mut();
        if let Some(status) = tonic::Status::from_header_map(headers)
            && status.code() == Code::OutOfRange
        {
            let replaced = tonic::Status::resource_exhausted(format!(
                "request too large: {}; the limit is {limit} bytes ({key})",
                status.message()
            ));
            // Headers that cannot be written leave tonic's own answer.
            let _ = replaced.add_header(headers);
        }
        response
    })
}
