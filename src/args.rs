//! What the subcommands share in reading their arguments and showing a
//! gateway's refusal.

use anyhow::bail;
use trama_proto::v1;

/// A date written YYYY-MM-DD on the command line (`--birth-date`).
pub fn parse_date(s: &str) -> anyhow::Result<v1::Date> {
    match trama_client::dates::parse_iso(s) {
        Some(date) => Ok(date),
        None => bail!("--birth-date `{s}`: write YYYY-MM-DD"),
    }
}

/// A gRPC error as the command line shows it: code and message.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "the gateway answered {:?}: {}",
        status.code(),
        status.message()
    )
}
