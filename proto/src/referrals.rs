//! A referral's status by name, as the API, the audit log, the command
//! line, the console and the partners' status tables write it:
//! `requested`, `accepted`, `rejected`, `in_progress`, `completed`,
//! `failed`, `cancelled`.

use crate::v1::ReferralStatus;

/// Every status a referral can be in.
pub const STATUSES: [ReferralStatus; 7] = [
    ReferralStatus::Requested,
    ReferralStatus::Accepted,
    ReferralStatus::Rejected,
    ReferralStatus::InProgress,
    ReferralStatus::Completed,
    ReferralStatus::Failed,
    ReferralStatus::Cancelled,
];

/// The status's name.
pub fn name(status: ReferralStatus) -> &'static str {
    match status {
        ReferralStatus::Unspecified => "unspecified",
        ReferralStatus::Requested => "requested",
        ReferralStatus::Accepted => "accepted",
        ReferralStatus::Rejected => "rejected",
        ReferralStatus::InProgress => "in_progress",
        ReferralStatus::Completed => "completed",
        ReferralStatus::Failed => "failed",
        ReferralStatus::Cancelled => "cancelled",
    }
}

/// The name of a status sent as its number (the number itself when it
/// names none).
pub fn name_of(status: i32) -> String {
    ReferralStatus::try_from(status)
        .map(|s| name(s).to_string())
        .unwrap_or_else(|_| status.to_string())
}

/// The status named `text`, in any case, with `-` or `_` (`accepted`,
/// `in-progress`, `IN_PROGRESS`); never `unspecified`.
pub fn parse(text: &str) -> Option<ReferralStatus> {
    let t = text.trim().to_ascii_lowercase().replace('-', "_");
    STATUSES.into_iter().find(|s| name(*s) == t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in STATUSES {
            assert_eq!(parse(name(s)), Some(s));
        }
        assert_eq!(parse("In-Progress"), Some(ReferralStatus::InProgress));
        assert_eq!(parse("unspecified"), None);
        assert_eq!(parse("open"), None);
        assert_eq!(name_of(99), "99");
    }
}
