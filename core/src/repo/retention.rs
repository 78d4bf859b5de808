//! Which snapshots to keep: keep-last/hourly/daily/weekly/monthly/yearly/within, applied
//! per group of snapshots with the same host and paths (as restic does).
//!
//! For each period rule with count n, walking from newest to oldest, the newest snapshot of
//! each of the n most recent periods that have snapshots is kept. Periods use local time.
//!
//! [`RetentionPolicy`] is the one retention type: `forget` takes it and backup plans store it
//! (as JSON in the schedule database).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Local, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::filter::SnapshotFilter;
use super::id::Id;
use super::snapshot::Snapshot;
use super::Repository;
use crate::error::{Error, Result};

/// A retention policy. Counts of 0 disable a rule; a snapshot is kept if any rule keeps it.
/// The default keeps nothing (no rule: `forget` refuses it); a new plan's default is
/// [`crate::schedule::PlanSpec::DEFAULT_RETENTION`].
///
/// Stored in plans as `{"last":3,"hourly":0,"daily":7,"weekly":4,"monthly":12,"yearly":0}`
/// (the six counts required), plus `"within_secs"` only when `within` is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Keep the newest n.
    pub last: u32,
    /// Newest per hour, for n hours.
    pub hourly: u32,
    /// Newest per day, for n days.
    pub daily: u32,
    /// Newest per ISO week, for n weeks.
    pub weekly: u32,
    /// Newest per month, for n months.
    pub monthly: u32,
    /// Newest per year, for n years.
    pub yearly: u32,
    /// Keep everything this close to the group's newest snapshot.
    #[serde(
        default,
        rename = "within_secs",
        skip_serializing_if = "Option::is_none",
        with = "opt_secs"
    )]
    pub within: Option<Duration>,
}

/// `within` as whole seconds in serialized plans.
mod opt_secs {
    use chrono::Duration;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.num_seconds()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<i64>::deserialize(d)?
            .map(|n| {
                Duration::try_seconds(n).ok_or_else(|| D::Error::custom("within_secs out of range"))
            })
            .transpose()
    }
}

impl RetentionPolicy {
    /// True if no rule is set (forget would remove everything: refused).
    pub fn is_empty(&self) -> bool {
        *self == RetentionPolicy::default()
    }
}

/// Parses durations like `7d`, `2w`, `1y6m`, `12h` (y = 365 days, m = 30 days).
pub fn parse_duration(s: &str) -> Result<Duration> {
    let mut total = Duration::zero();
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| {
            Error::InvalidArgument(format!("bad duration {s:?}: expected e.g. 7d, 2w, 1y6m"))
        })?;
        num.clear();
        total += match c {
            'y' => Duration::days(365 * n),
            'm' => Duration::days(30 * n),
            'w' => Duration::weeks(n),
            'd' => Duration::days(n),
            'h' => Duration::hours(n),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "bad duration {s:?}: unknown unit {c:?}"
                )))
            }
        };
    }
    if !num.is_empty() || total.is_zero() {
        return Err(Error::InvalidArgument(format!(
            "bad duration {s:?}: expected e.g. 7d, 2w, 1y6m"
        )));
    }
    Ok(total)
}

/// A decision about one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Snapshot id.
    pub id: Id,
    /// Snapshot time.
    pub time: DateTime<Utc>,
    /// Host.
    pub host: String,
    /// Why it is kept (empty: removed).
    pub reasons: Vec<String>,
}

/// Applies `policy` to `snapshots`; returns one decision per snapshot, newest first.
pub fn apply(policy: &RetentionPolicy, snapshots: &[Snapshot]) -> Vec<Decision> {
    let mut groups: BTreeMap<(String, Vec<String>), Vec<&Snapshot>> = BTreeMap::new();
    for s in snapshots {
        groups
            .entry((s.host.clone(), s.paths.clone()))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for (_, mut group) in groups {
        group.sort_by_key(|s| std::cmp::Reverse(s.time));
        let newest = group.first().map(|s| s.time);
        type Bucket = fn(&DateTime<Local>) -> i64;
        let rules: [(&str, u32, Bucket); 6] = [
            ("last", policy.last, |_| 0),
            ("hourly", policy.hourly, |t| {
                (t.year() as i64 * 400 + t.ordinal() as i64) * 24 + t.hour() as i64
            }),
            ("daily", policy.daily, |t| {
                t.year() as i64 * 400 + t.ordinal() as i64
            }),
            ("weekly", policy.weekly, |t| {
                t.iso_week().year() as i64 * 100 + t.iso_week().week() as i64
            }),
            ("monthly", policy.monthly, |t| {
                t.year() as i64 * 100 + t.month() as i64
            }),
            ("yearly", policy.yearly, |t| t.year() as i64),
        ];
        let mut state: Vec<(u32, Option<i64>)> = rules.iter().map(|r| (r.1, None)).collect();
        for s in group {
            let local = s.time.with_timezone(&Local);
            let mut reasons = Vec::new();
            for (i, (name, _, bucket)) in rules.iter().enumerate() {
                let (left, last) = &mut state[i];
                if *left == 0 {
                    continue;
                }
                let b = if *name == "last" {
                    i64::from(*left)
                } else {
                    bucket(&local)
                };
                if *last != Some(b) {
                    *last = Some(b);
                    *left -= 1;
                    reasons.push(name.to_string());
                }
            }
            if let (Some(w), Some(n)) = (policy.within, newest) {
                if n - s.time <= w {
                    reasons.push("within".into());
                }
            }
            out.push(Decision {
                id: s.id,
                time: s.time,
                host: s.host.clone(),
                reasons,
            });
        }
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.time));
    out
}

impl Repository {
    /// Removes the snapshots `policy` does not keep (their data stays until prune; the
    /// policy holds for each host and set of paths on its own, see [`apply`]). Returns the
    /// decisions; with `dry_run` nothing is removed.
    pub fn forget(&self, policy: &RetentionPolicy, dry_run: bool) -> Result<Vec<Decision>> {
        self.forget_in(policy, &SnapshotFilter::default(), dry_run)
    }

    /// [`Repository::forget`] among the snapshots `filter` lets through; the others stay.
    pub fn forget_in(
        &self,
        policy: &RetentionPolicy,
        filter: &SnapshotFilter,
        dry_run: bool,
    ) -> Result<Vec<Decision>> {
        if policy.is_empty() {
            return Err(Error::InvalidArgument("no retention rule given (e.g. --keep-last 3 or --keep-daily 7); refusing to remove every snapshot".into()));
        }
        let chosen: Vec<Snapshot> = self
            .snapshots()?
            .into_iter()
            .filter(|s| filter.matches(s))
            .collect();
        let decisions = apply(policy, &chosen);
        if !dry_run {
            for d in decisions.iter().filter(|d| d.reasons.is_empty()) {
                self.delete_snapshot(&d.id)?;
            }
        }
        Ok(decisions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn snap(n: u8, t: DateTime<Utc>) -> Snapshot {
        Snapshot::for_test(n, t, "h", &["/p"])
    }

    #[test]
    fn daily_and_last() {
        // Two snapshots a day for 10 days, at 10:00 and 22:00 local time.
        let mut snaps = Vec::new();
        for d in 0..10u8 {
            for (k, h) in [(0u8, 10), (1u8, 22)] {
                let local = Local
                    .with_ymd_and_hms(2026, 3, 1 + d as u32, h, 0, 0)
                    .unwrap();
                snaps.push(snap(d * 2 + k, local.with_timezone(&Utc)));
            }
        }
        let p = RetentionPolicy {
            daily: 3,
            last: 1,
            ..Default::default()
        };
        let kept: Vec<_> = apply(&p, &snaps)
            .into_iter()
            .filter(|d| !d.reasons.is_empty())
            .map(|d| d.id.0[0])
            .collect();
        // Newest of days 10, 9, 8 (the 22:00 ones); "last" also picks the newest.
        assert_eq!(kept, vec![19, 17, 15]);
        let p = RetentionPolicy {
            within: Some(parse_duration("2d").unwrap()),
            ..Default::default()
        };
        let kept = apply(&p, &snaps)
            .into_iter()
            .filter(|d| !d.reasons.is_empty())
            .count();
        assert_eq!(kept, 5);
    }

    #[test]
    fn serialized_form() {
        // The form plans have always been stored in: six counts, no `within`.
        let stored = r#"{"last":3,"hourly":0,"daily":7,"weekly":4,"monthly":12,"yearly":0}"#;
        let p: RetentionPolicy = serde_json::from_str(stored).unwrap();
        assert_eq!(
            p,
            RetentionPolicy {
                last: 3,
                daily: 7,
                weekly: 4,
                monthly: 12,
                ..Default::default()
            }
        );
        assert_eq!(serde_json::to_string(&p).unwrap(), stored);
        let within = RetentionPolicy {
            within: Some(Duration::days(2)),
            ..p
        };
        let text = serde_json::to_string(&within).unwrap();
        assert!(text.ends_with(r#""within_secs":172800}"#), "{text}");
        assert_eq!(
            serde_json::from_str::<RetentionPolicy>(&text).unwrap(),
            within
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1w2d").unwrap(), Duration::days(9));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("3x").is_err());
    }
}
