//! What the subcommands share in reading their arguments and showing a
//! gateway's refusal.

use trama_proto::v1;

/// A date written YYYY-MM-DD on the command line (`--birth-date`).
pub fn parse_date(s: &str) -> anyhow::Result<v1::Date> {
    Ok(trama_client::requests::date("--birth-date", s)?)
}

/// A gRPC error as the command line shows it: code and message.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "the gateway answered {:?}: {}",
        status.code(),
        status.message()
    )
}
