//! The time zone times are shown in: the viewer's, from `TZ` as the C library reads it, looked
//! up with jiff in the system's time zone database (`/usr/share/zoneinfo`, or `TZDIR`).
//!
//! - `TZ` unset: the system zone, `/etc/localtime` (UTC when there is none).
//! - `TZ=Asia/Tokyo` or `TZ=:Asia/Tokyo`: that zone of the database; `TZ=/path` (or
//!   `:/path`): that compiled zone file.
//! - Otherwise a POSIX rule (`JST-9`, `CET-1CEST,M3.5.0,M10.5.0/3`).
//! - Empty, or naming nothing known: UTC, as the C library does (no error, no warning).
//!
//! A process shows times in its own `TZ` ([`viewer`]). A holder serving an attached client sets
//! that client's zone on the client's thread ([`show_in`]), so that several clients in different
//! zones are each shown their own at once; nothing is switched for the whole process.
//!
//! Forms: [`short`] for tables (`2026-01-01 22:00 JST`; the offset, `+03:00`, for zones whose
//! abbreviation is numeric), [`rfc3339`] for the inspect form (`2026-01-01T22:00:00+09:00`).
//! Plain text and JSON stay RFC 3339 in UTC, which machines read.
//!
//! jiff rather than chrono-tz: it reads the database the C library and `date` read (updated
//! with the system), POSIX rules and `/etc/localtime`, and gives each offset its abbreviation;
//! chrono-tz compiles a copy of the database into the binary and reads neither `TZ` rules nor
//! `/etc/localtime`. chrono stays for everything else.

use std::cell::RefCell;
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, Offset as _, SecondsFormat, Utc};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The system zone's file, read when `TZ` is unset.
const LOCALTIME: &str = "/etc/localtime";

thread_local! {
    /// The zone of the client this thread serves, when it is not this process's own.
    static THREAD: RefCell<Option<TimeZone>> = const { RefCell::new(None) };
}

/// `TZ` as this process has it: `None` when unset; a value that is not UTF-8 is kept lossily
/// (it then names no zone: UTC).
pub fn env_tz() -> Option<String> {
    std::env::var_os("TZ").map(|tz| tz.to_string_lossy().into_owned())
}

/// The zone a `TZ` value names (`None`: unset), as described in the module's documentation.
/// Reads nothing from this process's environment, so that a holder can resolve a client's.
pub fn resolve(tz: Option<&str>) -> TimeZone {
    let Some(tz) = tz else {
        return file(Path::new(LOCALTIME)).unwrap_or(TimeZone::UTC);
    };
    let tz = tz.strip_prefix(':').unwrap_or(tz);
    if tz.is_empty() {
        return TimeZone::UTC;
    }
    if tz.starts_with('/') {
        return file(Path::new(tz)).unwrap_or(TimeZone::UTC);
    }
    TimeZone::get(tz)
        .or_else(|_| TimeZone::posix(tz))
        .unwrap_or(TimeZone::UTC)
}

/// A compiled zone file's zone; `None` when it cannot be read or is not one.
fn file(path: &Path) -> Option<TimeZone> {
    let data = std::fs::read(path).ok()?;
    TimeZone::tzif(&path.to_string_lossy(), &data).ok()
}

/// Shows times in `zone` on this thread (a holder's thread serving one client).
pub fn show_in(zone: TimeZone) {
    THREAD.set(Some(zone));
}

/// The zone times are shown in on this thread: its client's ([`show_in`]), else this
/// process's `TZ` (read once).
pub fn viewer() -> TimeZone {
    static PROCESS: OnceLock<TimeZone> = OnceLock::new();
    THREAD
        .with_borrow(Clone::clone)
        .unwrap_or_else(|| PROCESS.get_or_init(|| resolve(env_tz().as_deref())).clone())
}

/// The offset of `zone` at `at`, and its name there: the abbreviation (`JST`, `CEST`), or
/// `None` where that is numeric (`+03`).
fn offset_and_name(zone: &TimeZone, at: DateTime<Utc>) -> (FixedOffset, Option<String>) {
    let info = Timestamp::from_second(at.timestamp())
        .map(|instant| zone.to_offset_info(instant))
        .ok();
    let seconds = info.as_ref().map_or(0, |info| info.offset().seconds());
    let offset = FixedOffset::east_opt(seconds).unwrap_or_else(|| Utc.fix());
    let name = info
        .map(|info| info.abbreviation().to_owned())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic()));
    (offset, name)
}

/// A table's form of `at` in `zone`: `2026-01-01 22:00 JST`, or `2026-01-01 22:00 +03:00`
/// where the zone's abbreviation is numeric.
pub fn short_in(zone: &TimeZone, at: DateTime<Utc>) -> String {
    let (offset, name) = offset_and_name(zone, at);
    let local = at.with_timezone(&offset);
    match name {
        Some(name) => format!("{} {name}", local.format("%Y-%m-%d %H:%M")),
        None => local.format("%Y-%m-%d %H:%M %:z").to_string(),
    }
}

/// [`short_in`] the [`viewer`]'s zone.
pub fn short(at: DateTime<Utc>) -> String {
    short_in(&viewer(), at)
}

/// RFC 3339 in `zone`, with its offset: `2026-01-01T22:00:00+09:00`.
pub fn rfc3339_in(zone: &TimeZone, at: DateTime<Utc>) -> String {
    let (offset, _) = offset_and_name(zone, at);
    at.with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// [`rfc3339_in`] the [`viewer`]'s zone.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    rfc3339_in(&viewer(), at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn short_of(tz: &str, time: &str) -> String {
        short_in(&resolve(Some(tz)), at(time))
    }

    #[test]
    fn named_zones_show_their_abbreviation() {
        assert_eq!(
            short_of("Asia/Tokyo", "2026-01-01T13:00:00Z"),
            "2026-01-01 22:00 JST"
        );
        assert_eq!(
            short_of(":Asia/Tokyo", "2026-01-01T13:00:00Z"),
            "2026-01-01 22:00 JST"
        );
        assert_eq!(
            short_of("UTC", "2026-01-01T13:00:00Z"),
            "2026-01-01 13:00 UTC"
        );
        assert_eq!(
            short_of("/usr/share/zoneinfo/Asia/Tokyo", "2026-01-01T13:00:00Z"),
            "2026-01-01 22:00 JST"
        );
    }

    #[test]
    fn both_sides_of_a_dst_change() {
        // Europe/Berlin leaves CET at 01:00 UTC on 2026-03-29, and CEST at 01:00 UTC on
        // 2026-10-25.
        for tz in ["Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"] {
            assert_eq!(
                short_of(tz, "2026-03-29T00:59:00Z"),
                "2026-03-29 01:59 CET",
                "{tz}"
            );
            assert_eq!(
                short_of(tz, "2026-03-29T01:00:00Z"),
                "2026-03-29 03:00 CEST",
                "{tz}"
            );
            assert_eq!(
                short_of(tz, "2026-10-25T00:59:00Z"),
                "2026-10-25 02:59 CEST",
                "{tz}"
            );
            assert_eq!(
                short_of(tz, "2026-10-25T01:00:00Z"),
                "2026-10-25 02:00 CET",
                "{tz}"
            );
        }
        let berlin = resolve(Some("Europe/Berlin"));
        assert_eq!(
            rfc3339_in(&berlin, at("2026-07-01T12:00:00Z")),
            "2026-07-01T14:00:00+02:00"
        );
        assert_eq!(
            rfc3339_in(&berlin, at("2026-01-01T12:00:00Z")),
            "2026-01-01T13:00:00+01:00"
        );
    }

    #[test]
    fn posix_rules_and_numeric_abbreviations() {
        assert_eq!(
            short_of("JST-9", "2026-01-01T13:00:00Z"),
            "2026-01-01 22:00 JST"
        );
        // Istanbul's abbreviation is "+03": the offset is shown instead.
        assert_eq!(
            short_of("Europe/Istanbul", "2026-01-01T13:00:00Z"),
            "2026-01-01 16:00 +03:00"
        );
        assert_eq!(
            short_of("<+0530>-5:30", "2026-01-01T13:00:00Z"),
            "2026-01-01 18:30 +05:30"
        );
    }

    #[test]
    fn an_unknown_or_empty_zone_is_utc() {
        for tz in [
            "Nowhere/Land",
            "",
            ":",
            "/nonexistent/zone",
            "JST",
            "../../etc/passwd",
        ] {
            assert_eq!(
                short_of(tz, "2026-01-01T13:00:00Z"),
                "2026-01-01 13:00 UTC",
                "{tz:?}"
            );
            assert_eq!(
                rfc3339_in(&resolve(Some(tz)), at("2026-01-01T13:00:00Z")),
                "2026-01-01T13:00:00+00:00"
            );
        }
    }

    #[test]
    fn a_thread_shows_its_own_zone() {
        let tokyo = std::thread::spawn(|| {
            show_in(resolve(Some("Asia/Tokyo")));
            short(at("2026-01-01T13:00:00Z"))
        });
        let berlin = std::thread::spawn(|| {
            show_in(resolve(Some("Europe/Berlin")));
            rfc3339(at("2026-01-01T13:00:00Z"))
        });
        assert_eq!(tokyo.join().unwrap(), "2026-01-01 22:00 JST");
        assert_eq!(berlin.join().unwrap(), "2026-01-01T14:00:00+01:00");
    }
}
