//! The pieces of a Federation request as a client system's operator types
//! them on a command line, read into `trama.v1` messages, and the one way a
//! request is sent: under the caller's deadline. A refusal names the flag
//! and how to write it.

use std::time::Duration;

use trama_proto::v1;

/// A value the command line cannot use, with the flag and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(String);

/// `message` as a request carrying `deadline` (sent as `grpc-timeout`,
/// which the gateway and the connectors honour).
pub fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

/// A partner's local id written `ORG:ID`.
pub fn local_id(text: &str) -> Result<v1::LocalId, ArgError> {
    let Some((org, id)) = text.split_once(':') else {
        return Err(ArgError(format!(
            "--local-id `{text}`: write ORG:ID, for example caritas:900001"
        )));
    };
    Ok(v1::LocalId {
        organisation: org.to_string(),
        id: id.to_string(),
    })
}

/// The person named by a tax code and local ids.
pub fn subject_key(
    tax_code: Option<String>,
    local_ids: &[String],
) -> Result<v1::SubjectKey, ArgError> {
    Ok(v1::SubjectKey {
        tax_code: tax_code.unwrap_or_default(),
        local_ids: local_ids
            .iter()
            .map(|s| local_id(s))
            .collect::<Result<_, _>>()?,
    })
}

/// A statistics filter written `DIMENSION=VALUE[,VALUE...]`.
pub fn filter(text: &str) -> Result<v1::Filter, ArgError> {
    let Some((dimension, values)) = text.split_once('=') else {
        return Err(ArgError(format!(
            "--filter `{text}`: write DIMENSION=VALUE[,VALUE...], for example year=2025"
        )));
    };
    Ok(v1::Filter {
        dimension: dimension.trim().to_string(),
        values: values.split(',').map(|v| v.trim().to_string()).collect(),
    })
}

/// An amount in euro given with `flag` (`12`, `12.50`, `12,50`) as cents,
/// exactly; 0 when not given.
pub fn cents(flag: &str, text: Option<&str>) -> Result<i64, ArgError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(text) => crate::money::parse_euro(text).ok_or_else(|| {
            ArgError(format!(
                "{flag} `{text}` is not an amount in euro: write for example 12.50"
            ))
        }),
    }
}

/// A sex written F or M; unspecified when not given.
pub fn sex(text: Option<&str>) -> Result<i32, ArgError> {
    match text.map(str::to_ascii_uppercase).as_deref() {
        Some("F") => Ok(v1::Sex::Female as i32),
        Some("M") => Ok(v1::Sex::Male as i32),
        None => Ok(v1::Sex::Unspecified as i32),
        Some(other) => Err(ArgError(format!("--sex `{other}`: write F or M"))),
    }
}

/// A date written YYYY-MM-DD given with `flag`.
pub fn date(flag: &str, text: &str) -> Result<v1::Date, ArgError> {
    crate::dates::parse_iso(text)
        .ok_or_else(|| ArgError(format!("{flag} `{text}`: write YYYY-MM-DD")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_piece_is_read_or_refused_naming_its_flag() {
        assert_eq!(
            local_id("caritas:9")
                .map(|l| l.organisation)
                .ok()
                .as_deref(),
            Some("caritas")
        );
        assert!(local_id("caritas").is_err_and(|e| e.to_string().contains("--local-id")));
        let f = filter("year=2025, 2026").ok();
        assert_eq!(
            f.map(|f| f.values),
            Some(vec!["2025".to_string(), "2026".to_string()])
        );
        assert!(filter("year").is_err_and(|e| e.to_string().contains("--filter")));
        assert_eq!(cents("--isee", Some("12,5")).ok(), Some(1250));
        assert_eq!(cents("--isee", None).ok(), Some(0));
        assert!(
            cents("--isee", Some("dodici")).is_err_and(|e| e.to_string().starts_with("--isee"))
        );
        assert_eq!(sex(Some("f")).ok(), Some(v1::Sex::Female as i32));
        assert!(sex(Some("x")).is_err());
        assert!(
            date("--birth-date", "1978-02").is_err_and(|e| e.to_string().contains("YYYY-MM-DD"))
        );
        let r = with_deadline((), Duration::from_secs(3));
        assert!(r.metadata().get("grpc-timeout").is_some());
    }
}
