//! Backup plans: what to back up, where, how often, under which conditions, what to keep
//! and how to verify. Plans are plain data (JSON in the state database).

use std::path::PathBuf;

use std::fmt;

use chrono::{DateTime, Duration, Local, Months, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::repo::retention::RetentionPolicy;

/// How often a plan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "every", content = "hours")]
pub enum Frequency {
    /// Every N hours.
    Hours(u32),
    /// Once a day.
    Daily,
    /// Once a week.
    Weekly,
    /// Once a month.
    Monthly,
}

impl Frequency {
    /// The nominal period.
    pub fn period(self) -> Duration {
        match self {
            Frequency::Hours(h) => Duration::hours(i64::from(h.max(1))),
            Frequency::Daily => Duration::days(1),
            Frequency::Weekly => Duration::weeks(1),
            Frequency::Monthly => Duration::days(30),
        }
    }

    /// The earliest time the next regular run may start after a run at `last`: one period
    /// later, less a tenth of it, so that a trigger arriving a little early still counts.
    fn next_after(self, last: DateTime<Utc>) -> DateTime<Utc> {
        let tolerance = self.period() / 10;
        match self {
            Frequency::Monthly => {
                last.checked_add_months(Months::new(1))
                    .unwrap_or(last + self.period())
                    - Duration::days(3)
            }
            _ => last + self.period() - tolerance,
        }
    }
}

/// A daily time window in local time, e.g. 01:00-05:00; may wrap past midnight. Shown (by
/// `Display`) as it is parsed: `HH:MM-HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub start: NaiveTime,
    /// End (exclusive).
    pub end: NaiveTime,
}

impl Window {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(s: &str) -> Result<Window> {
        let bad = || {
            Error::InvalidArgument(format!(
                "bad window {s:?}: expected HH:MM-HH:MM, e.g. 01:00-05:00"
            ))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        let w = Window {
            start: t(a)?,
            end: t(b)?,
        };
        if w.start == w.end {
            return Err(bad());
        }
        Ok(w)
    }

    /// True if `t` (local) is inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let time = t.with_timezone(&Local).time();
        if self.start < self.end {
            time >= self.start && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// The first instant at or after `t` inside the window.
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(t) {
            return t;
        }
        let local = t.with_timezone(&Local);
        for day in 0..3 {
            let date = local.date_naive() + Duration::days(day);
            // A start time that does not exist locally (DST gap) falls back to an hour later.
            let start = Local
                .from_local_datetime(&date.and_time(self.start))
                .earliest()
                .or_else(|| {
                    Local
                        .from_local_datetime(&(date.and_time(self.start) + Duration::hours(1)))
                        .earliest()
                });
            if let Some(start) = start {
                let start = start.with_timezone(&Utc);
                if start >= t {
                    return start;
                }
            }
        }
        t
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// Conditions the device must meet for a plan to run. The default asks nothing (a PC's
/// plan); a phone's plan starts from [`Constraints::PHONE`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    /// Only on an unmetered network (Wi-Fi, Ethernet).
    #[serde(default)]
    pub unmetered: bool,
    /// Only while charging.
    #[serde(default)]
    pub charging: bool,
    /// Only when the battery is not low.
    #[serde(default)]
    pub battery_not_low: bool,
    /// Only when the device is idle.
    #[serde(default)]
    pub idle: bool,
}

/// The device's state when the scheduler is called (from WorkManager, BGTaskScheduler, or
/// the CLI's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConditions {
    /// On a metered network (mobile data, a hotspot).
    pub metered: bool,
    /// Charging.
    pub charging: bool,
    /// Battery low.
    pub battery_low: bool,
    /// Idle.
    pub idle: bool,
}

impl Default for DeviceConditions {
    /// A PC: unmetered, on mains power, idle.
    fn default() -> Self {
        DeviceConditions {
            metered: false,
            charging: true,
            battery_low: false,
            idle: true,
        }
    }
}

impl Constraints {
    /// What a plan made on a phone asks by default: an unmetered network, charging and a
    /// battery that is not low (not idleness: phones are rarely idle long enough).
    pub const PHONE: Constraints = Constraints {
        unmetered: true,
        charging: true,
        battery_not_low: true,
        idle: false,
    };

    /// Why `c` does not satisfy these constraints, if it does not.
    pub fn unmet(&self, c: &DeviceConditions) -> Option<&'static str> {
        if self.unmetered && c.metered {
            Some("the network is metered")
        } else if self.charging && !c.charging {
            Some("the device is not charging")
        } else if self.battery_not_low && c.battery_low {
            Some("the battery is low")
        } else if self.idle && !c.idle {
            Some("the device is in use")
        } else {
            None
        }
    }
}

/// How to verify after each backup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Percentage of packs to read back after each backup (0 to skip).
    pub sample_percent: f64,
    /// Read back everything when the last full read-back is this many days old (0: never).
    pub full_every_days: u32,
}

impl Verification {
    /// What a new plan verifies: 5 % after each run, everything monthly.
    pub const DEFAULT: Verification = Verification {
        sample_percent: 5.0,
        full_every_days: 30,
    };
}

impl Default for Verification {
    /// [`Verification::DEFAULT`].
    fn default() -> Self {
        Verification::DEFAULT
    }
}

/// Everything a plan says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSpec {
    /// Unique name.
    pub name: String,
    /// Folder (or export) to back up.
    pub source: PathBuf,
    /// What the source is ("folder", or a chat export kind once sources exist).
    #[serde(default = "folder")]
    pub source_kind: String,
    /// Encrypted databases in the source and their page sizes.
    #[serde(default)]
    pub page_sizes: Vec<(PathBuf, u32)>,
    /// Repository location.
    pub destination: String,
    /// How often.
    pub frequency: Frequency,
    /// Preferred local time window.
    #[serde(default)]
    pub window: Option<Window>,
    /// Device conditions.
    #[serde(default)]
    pub constraints: Constraints,
    /// What to keep.
    #[serde(default = "default_retention")]
    pub retention: RetentionPolicy,
    /// How to verify.
    #[serde(default)]
    pub verification: Verification,
    /// Leave out photos, videos and voice messages.
    #[serde(default)]
    pub exclude_media: bool,
    /// Prune at most this often, in days (pruning rewrites data; phones should not do it
    /// nightly). 0: after every run that forgot something.
    #[serde(default = "default_prune_every_days")]
    pub prune_every_days: u32,
    /// Warn when there has been no good backup for this many hours.
    #[serde(default = "default_warn_after_hours")]
    pub warn_after_hours: u32,
    /// Further destinations that keep copies of this plan's snapshots (linked repositories,
    /// see `init --copy-chunker-params-from`). When `destination` cannot be reached, the
    /// backup goes to the first of these that can.
    #[serde(default)]
    pub copies: Vec<CopyDestination>,
}

/// A further place that keeps copies of a plan's snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyDestination {
    /// Repository location, linked to the plan's destination.
    pub destination: String,
    /// Copy at most this often, in hours (0: after every backup).
    #[serde(default)]
    pub every_hours: u32,
    /// Device conditions for copying there (e.g. only on Wi-Fi for a cloud destination).
    #[serde(default)]
    pub constraints: Constraints,
}

fn default_retention() -> RetentionPolicy {
    PlanSpec::DEFAULT_RETENTION
}
fn folder() -> String {
    PlanSpec::FOLDER.into()
}
fn default_prune_every_days() -> u32 {
    PlanSpec::DEFAULT_PRUNE_EVERY_DAYS
}
fn default_warn_after_hours() -> u32 {
    PlanSpec::DEFAULT_WARN_AFTER_HOURS
}

/// The longest plan name accepted.
pub const MAX_NAME_CHARS: usize = 64;

impl PlanSpec {
    /// What a new plan keeps: the last 3, plus 7 daily, 4 weekly and 12 monthly.
    pub const DEFAULT_RETENTION: RetentionPolicy = RetentionPolicy {
        last: 3,
        hourly: 0,
        daily: 7,
        weekly: 4,
        monthly: 12,
        yearly: 0,
        within: None,
    };

    /// Prune at most weekly.
    pub const DEFAULT_PRUNE_EVERY_DAYS: u32 = 7;

    /// Warn after three days without a good backup.
    pub const DEFAULT_WARN_AFTER_HOURS: u32 = 72;

    /// The `source_kind` of a plain folder.
    pub const FOLDER: &'static str = "folder";

    /// A daily plan with the defaults (no window, no constraints, default retention and
    /// verification).
    pub fn daily(
        name: impl Into<String>,
        source: impl Into<PathBuf>,
        destination: impl Into<String>,
    ) -> Self {
        PlanSpec {
            name: name.into(),
            source: source.into(),
            source_kind: folder(),
            page_sizes: Vec::new(),
            destination: destination.into(),
            frequency: Frequency::Daily,
            window: None,
            constraints: Constraints::default(),
            retention: Self::DEFAULT_RETENTION,
            verification: Verification::DEFAULT,
            exclude_media: false,
            prune_every_days: Self::DEFAULT_PRUNE_EVERY_DAYS,
            warn_after_hours: Self::DEFAULT_WARN_AFTER_HOURS,
            copies: Vec::new(),
        }
    }

    /// Checks the plan makes sense.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidArgument("a plan needs a name".into()));
        }
        // The name goes into snapshot tags, logs, notifications and file names on the phone:
        // a short line of text, checked before the plan is registered.
        if self.name.chars().count() > MAX_NAME_CHARS
            || self
                .name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(Error::InvalidArgument(format!(
                "a plan name is at most {MAX_NAME_CHARS} characters, without slashes or control characters"
            )));
        }
        if self.retention.is_empty() {
            return Err(Error::InvalidArgument(
                "a plan needs at least one retention rule".into(),
            ));
        }
        if !(0.0..=100.0).contains(&self.verification.sample_percent) {
            return Err(Error::InvalidArgument(
                "the verification sample is a percentage from 0 to 100".into(),
            ));
        }
        let mut seen = vec![self.destination.as_str()];
        for c in &self.copies {
            if seen.contains(&c.destination.as_str()) {
                return Err(Error::InvalidArgument(format!(
                    "{} is named twice among the plan's destinations",
                    c.destination
                )));
            }
            seen.push(&c.destination);
        }
        if let Frequency::Hours(0) = self.frequency {
            return Err(Error::InvalidArgument(
                "a plan cannot run every 0 hours".into(),
            ));
        }
        Ok(())
    }

    /// When the next regular run is due after a good run at `last`.
    pub fn next_due(&self, last: DateTime<Utc>) -> DateTime<Utc> {
        let t = self.frequency.next_after(last);
        match self.window {
            Some(w) => w.next_open(t),
            None => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_due_times() {
        let w = Window::parse("01:00-05:00").unwrap();
        assert_eq!(w.to_string(), "01:00-05:00");
        assert_eq!(
            Window::parse(" 22:00 - 4:00").unwrap().to_string(),
            "22:00-04:00"
        );
        let at = |h: u32, m: u32, d: u32| {
            Local
                .with_ymd_and_hms(2026, 3, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(w.contains(at(3, 0, 10)));
        assert!(!w.contains(at(5, 0, 10)));
        assert_eq!(w.next_open(at(9, 0, 10)), at(1, 0, 11));
        let night = Window::parse("22:00-04:00").unwrap();
        assert!(
            night.contains(at(23, 0, 10))
                && night.contains(at(2, 0, 10))
                && !night.contains(at(12, 0, 10))
        );
        let mut p = PlanSpec::daily("p", "/x", "/r");
        p.window = Some(w);
        // A run at 03:10 makes the next one due at 01:00 the day after (window start).
        assert_eq!(p.next_due(at(3, 10, 10)), at(1, 0, 11));
        p.window = None;
        assert_eq!(
            p.next_due(at(3, 0, 10)),
            at(3, 0, 10) + Duration::hours(24) - Duration::minutes(144)
        );
        assert!(Window::parse("25:00-01:00").is_err());
    }

    #[test]
    fn plan_names_are_short_lines_of_text() {
        assert!(PlanSpec::daily("nightly 夜间 🌙", "/x", "/r")
            .validate()
            .is_ok());
        for bad in ["a".repeat(65), "a/b".into(), "tab\there".into(), " ".into()] {
            let e = PlanSpec::daily(&bad, "/x", "/r").validate().unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad:?}: {e}");
        }
        // A store refuses it before registering anything.
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::store::Store::open(&dir.path().join("schedule.db")).unwrap();
        assert!(store
            .add_plan(&PlanSpec::daily("x".repeat(300), "/x", "/r"), Utc::now())
            .is_err());
        assert!(store.plans().unwrap().is_empty());
    }

    #[test]
    fn constraints() {
        let c = Constraints {
            unmetered: true,
            charging: true,
            ..Default::default()
        };
        assert_eq!(c.unmet(&DeviceConditions::default()), None);
        assert_eq!(
            c.unmet(&DeviceConditions {
                metered: true,
                ..Default::default()
            }),
            Some("the network is metered")
        );
        assert_eq!(
            c.unmet(&DeviceConditions {
                charging: false,
                ..Default::default()
            }),
            Some("the device is not charging")
        );
    }
}
