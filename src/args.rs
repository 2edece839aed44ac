//! What the subcommands share in reading their arguments and showing a
//! gateway's refusal.

use anyhow::{Context, bail};
use trama_proto::v1;

/// A date written YYYY-MM-DD on the command line (`--birth-date`).
pub fn parse_date(s: &str) -> anyhow::Result<v1::Date> {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        bail!("--birth-date `{s}`: write YYYY-MM-DD");
    };
    let num = |x: &str| {
        x.parse::<i32>()
            .with_context(|| format!("--birth-date `{s}`: write YYYY-MM-DD"))
    };
    Ok(v1::Date {
        year: num(y)?,
        month: num(m)?,
        day: num(d)?,
    })
}

/// A gRPC error as the command line shows it: code and message.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "the gateway answered {:?}: {}",
        status.code(),
        status.message()
    )
}
