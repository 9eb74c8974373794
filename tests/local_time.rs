//! Times in the local zone: the inspect form (`pp`, `=> …`) shows them in the zone `TZ` names,
//! with its offset (the console's tables, with its name: `tests/console.rs`); JSON stays
//! RFC 3339 in UTC.

mod common;

use chrono::{DateTime, FixedOffset, Utc};
use common::Db;

/// User 1's last sign-in, from `--format json` (UTC).
fn last_sign_in(db: &Db) -> DateTime<Utc> {
    let output = db
        .cmd()
        .env("TZ", "Asia/Tokyo")
        .args(["--format", "json", "-e", "User.find(1).last_sign_in_at"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text: String = serde_json::from_slice(&output.stdout).expect("a JSON string");
    assert!(text.ends_with("+00:00") || text.ends_with('Z'), "{text}");
    text.parse().expect("RFC 3339")
}

fn inspected(db: &Db, tz: &str) -> String {
    let output = db
        .cmd()
        .env("TZ", tz)
        .args(["-e", "pp(User.find(1)); pp(User.find(1).last_sign_in_at)"])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_inspect_form_shows_times_in_the_tz_zone() {
    let db = Db::seeded(1, 1);
    let at = last_sign_in(&db);
    let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
    let in_tokyo = at
        .with_timezone(&tokyo)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    assert!(in_tokyo.ends_with("+09:00"));
    let out = inspected(&db, "Asia/Tokyo");
    assert!(
        out.contains(&format!("last_sign_in_at: {in_tokyo}>")),
        "{in_tokyo} not in\n{out}"
    );
    assert_eq!(out.lines().nth(1), Some(in_tokyo.as_str()), "{out}");

    let in_utc = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let out = inspected(&db, "UTC");
    assert!(
        out.contains(&format!("last_sign_in_at: {in_utc}>")),
        "{in_utc} not in\n{out}"
    );
}

#[test]
fn plain_text_and_json_stay_in_utc() {
    let db = Db::seeded(1, 1);
    let at = last_sign_in(&db);
    let out = db
        .cmd()
        .env("TZ", "Asia/Tokyo")
        .args(["-e", "User.find(1).last_sign_in_at"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    );
}
