//! A referral's life: the Gravity Project's task states, who may move a
//! referral from one to the next, and the deadline to accept it in
//! business days (Monday to Friday, Italy's national holidays excepted).

use time::{Date, Duration, Month, OffsetDateTime, Weekday};
use trama_proto::v1::{ReferralStatus, Urgency};

/// Which party a change comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The organisation that sent the referral.
    Sender,
    /// The organisation it was sent to.
    Target,
}

/// Why a status change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The state machine has no such step.
    #[error("a referral that is {from} cannot become {to}")]
    NotAllowed {
        /// The current status.
        from: &'static str,
        /// The status asked for.
        to: &'static str,
    },
    /// The step is the other party's.
    #[error("only the {0} may make a referral {1}")]
    OtherParty(&'static str, &'static str),
    /// The step needs a reason.
    #[error("a reason is required to make a referral {0}")]
    ReasonRequired(&'static str),
}

pub use trama_proto::referrals::name;

/// Checks that `party` may move a referral from `from` to `to`, with
/// `reason`.
pub fn check(
    from: ReferralStatus,
    to: ReferralStatus,
    party: Party,
    reason: &str,
) -> Result<(), ChangeError> {
    use ReferralStatus::*;
    let allowed = match from {
        Requested => matches!(to, Accepted | Rejected | Cancelled),
        Accepted => matches!(to, InProgress | Completed | Failed | Cancelled),
        InProgress => matches!(to, Completed | Failed | Cancelled),
        _ => false,
    };
    if !allowed {
        return Err(ChangeError::NotAllowed {
            from: name(from),
            to: name(to),
        });
    }
    let whose = if to == Cancelled {
        Party::Sender
    } else {
        Party::Target
    };
    if whose != party {
        let who = if whose == Party::Sender {
            "sender"
        } else {
            "target"
        };
        return Err(ChangeError::OtherParty(who, name(to)));
    }
    if matches!(to, Rejected | Failed | Cancelled) && reason.trim().is_empty() {
        return Err(ChangeError::ReasonRequired(name(to)));
    }
    Ok(())
}

/// The steps the target takes from one status to the next, in the order
/// a referral's life allows them.
fn target_steps(from: ReferralStatus) -> &'static [ReferralStatus] {
    use ReferralStatus::*;
    match from {
        Requested => &[Accepted, Rejected],
        Accepted => &[InProgress, Completed, Failed],
        InProgress => &[Completed, Failed],
        _ => &[],
    }
}

/// The shortest run of target's steps that takes a referral from `from`
/// to `to` (`to` last), when the partner's own table shows `to` and the
/// steps between were not read: `requested` then `in_progress` passed
/// through `accepted`. `None` when no run of the target's steps gets
/// there (a move backwards, out of a final status, or a cancellation,
/// which is the sender's).
pub fn path(from: ReferralStatus, to: ReferralStatus) -> Option<Vec<ReferralStatus>> {
    if from == to {
        return None;
    }
    for &next in target_steps(from) {
        if next == to {
            return Some(vec![to]);
        }
    }
    // At most two steps lie between any two statuses the target reaches.
    for &next in target_steps(from) {
        if target_steps(next).contains(&to) {
            return Some(vec![next, to]);
        }
    }
    target_steps(from).iter().find_map(|&a| {
        target_steps(a)
            .iter()
            .find(|&&b| target_steps(b).contains(&to))
            .map(|&b| vec![a, b, to])
    })
}

/// Business days to accept or reject a referral, by urgency (read from
/// the configuration by [`crate::config`]).
pub use crate::config::Deadlines;

impl Deadlines {
    /// The business days for `urgency`.
    pub fn days(&self, urgency: Urgency) -> u32 {
        match urgency {
            Urgency::Unspecified | Urgency::Routine => self.routine,
            Urgency::Urgent => self.urgent,
            Urgency::Asap => self.asap,
            Urgency::Stat => self.stat,
        }
    }

    /// When a referral sent at `sent` with `urgency` is due: the end of
    /// the business day `days` business days later (Italian time is not
    /// needed to the hour: the day ends at midnight UTC+1). With 0 days,
    /// at once.
    pub fn due(&self, sent: OffsetDateTime, urgency: Urgency) -> OffsetDateTime {
        let days = self.days(urgency);
        if days == 0 {
            return sent;
        }
        let mut day = sent.date();
        let mut left = days;
        while left > 0 {
            day = day.next_day().unwrap_or(day);
            if is_business_day(day) {
                left -= 1;
            }
        }
        day.with_hms(23, 0, 0)
            .map(|t| t.assume_utc())
            .unwrap_or(sent + Duration::days(i64::from(days)))
    }
}

/// Monday to Friday, and not a national holiday.
pub fn is_business_day(day: Date) -> bool {
    !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_holiday(day)
}

/// Italy's national holidays: New Year, Epiphany, Easter Monday,
/// Liberation Day, Labour Day, Republic Day, Assumption, All Saints,
/// Immaculate Conception, Christmas, St Stephen; and St Francis of Assisi
/// (4 October) from 2026.
pub fn is_holiday(day: Date) -> bool {
    let fixed = [
        (Month::January, 1),
        (Month::January, 6),
        (Month::April, 25),
        (Month::May, 1),
        (Month::June, 2),
        (Month::August, 15),
        (Month::November, 1),
        (Month::December, 8),
        (Month::December, 25),
        (Month::December, 26),
    ];
    if fixed.contains(&(day.month(), day.day())) {
        return true;
    }
    if day.year() >= 2026 && (day.month(), day.day()) == (Month::October, 4) {
        return true;
    }
    easter(day.year())
        .and_then(|e| e.next_day())
        .is_some_and(|monday| monday == day)
}

/// Easter Sunday of `year` (the Gregorian computus).
fn easter(year: i32) -> Option<Date> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;
    use time::macros::{date, datetime};

    #[test]
    fn the_target_moves_it_forward_and_the_sender_cancels() {
        assert!(check(Requested, Accepted, Party::Target, "").is_ok());
        assert!(check(Accepted, InProgress, Party::Target, "").is_ok());
        assert!(check(InProgress, Completed, Party::Target, "").is_ok());
        assert!(check(Requested, Cancelled, Party::Sender, "duplicate").is_ok());
        assert_eq!(
            check(Requested, Accepted, Party::Sender, ""),
            Err(ChangeError::OtherParty("target", "accepted"))
        );
        assert_eq!(
            check(Requested, Cancelled, Party::Target, "x"),
            Err(ChangeError::OtherParty("sender", "cancelled"))
        );
        assert_eq!(
            check(Completed, Accepted, Party::Target, ""),
            Err(ChangeError::NotAllowed {
                from: "completed",
                to: "accepted"
            })
        );
        assert_eq!(
            check(Requested, Requested, Party::Target, ""),
            Err(ChangeError::NotAllowed {
                from: "requested",
                to: "requested"
            })
        );
        for to in [Rejected, Failed] {
            let from = if to == Rejected { Requested } else { Accepted };
            assert_eq!(
                check(from, to, Party::Target, " "),
                Err(ChangeError::ReasonRequired(name(to)))
            );
        }
    }

    #[test]
    fn a_jump_read_from_the_partner_passes_through_the_steps_between() {
        assert_eq!(path(Requested, Accepted), Some(vec![Accepted]));
        assert_eq!(
            path(Requested, InProgress),
            Some(vec![Accepted, InProgress])
        );
        assert_eq!(path(Requested, Completed), Some(vec![Accepted, Completed]));
        assert_eq!(path(Requested, Failed), Some(vec![Accepted, Failed]));
        assert_eq!(path(Accepted, Completed), Some(vec![Completed]));
        for (from, to) in [
            (Completed, Accepted),
            (InProgress, Requested),
            (Requested, Cancelled),
            (Rejected, Accepted),
            (Accepted, Rejected),
            (Accepted, Accepted),
        ] {
            assert_eq!(path(from, to), None, "{from:?} to {to:?}");
        }
        // Every run found is made of steps the target may take.
        for from in [Requested, Accepted, InProgress] {
            for to in [Accepted, InProgress, Completed, Failed, Rejected] {
                let mut at = from;
                for step in path(from, to).unwrap_or_default() {
                    assert!(check(at, step, Party::Target, "why").is_ok());
                    at = step;
                }
            }
        }
    }

    #[test]
    fn deadlines_count_business_days() {
        assert_eq!(easter(2026), Some(date!(2026 - 04 - 05)));
        assert_eq!(easter(2027), Some(date!(2027 - 03 - 28)));
        assert!(is_holiday(date!(2026 - 04 - 06)), "Easter Monday");
        assert!(is_holiday(date!(2026 - 10 - 04)));
        assert!(!is_business_day(date!(2026 - 12 - 05)), "a Saturday");
        let d = Deadlines::default();
        // Friday 4 December 2026: Monday 7, then Wednesday 9 (8 December is
        // a holiday).
        let sent = datetime!(2026 - 12 - 04 10:00 UTC);
        assert_eq!(d.due(sent, Urgency::Urgent).date(), date!(2026 - 12 - 09));
        // Five business days over Christmas: 28, 29, 30, 31 December, 4 January.
        let sent = datetime!(2026 - 12 - 24 10:00 UTC);
        assert_eq!(d.due(sent, Urgency::Routine).date(), date!(2027 - 01 - 04));
        assert_eq!(d.due(sent, Urgency::Stat), sent);
    }
}
