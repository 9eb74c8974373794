//! Field rules hold on every path that writes: `User.create`, `ActiveSession.set`, import and
//! `config set`; a refusal names the field, shows the value cut short, and writes nothing.

mod common;

use common::Db;

/// Imports `lines` (after the export header) into `db`; returns (exit code, standard error).
fn import(db: &Db, lines: &[String]) -> (Option<i32>, String) {
    let file = db.scratch().join("import.jsonl");
    let mut text = String::from(r#"{"type":"header","format":"sessionctl-export","version":2}"#);
    for line in lines {
        text.push('\n');
        text.push_str(line);
    }
    std::fs::write(&file, text + "\n").unwrap();
    let output = db.cmd().arg("import").arg(&file).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn user_line(id: &str, username: &str, name: &str) -> String {
    format!(
        r#"{{"type":"user","id":{id},"username":"{username}","email":"{username}@example.com","name":"{name}","state":"active","admin":false,"created_at":"2025-01-01T00:00:00Z","last_sign_in_at":null}}"#
    )
}

#[test]
fn import_refuses_a_ten_megabyte_name_and_writes_nothing() {
    let db = Db::new();
    let (code, stderr) = import(
        &db,
        &[
            user_line("1", "ok", "Fine"),
            user_line("2", "big", &"n".repeat(10_000_000)),
        ],
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("invalid name"), "{stderr}");
    assert!(stderr.contains("is longer than 255 characters"), "{stderr}");
    assert!(stderr.len() < 500, "{} bytes", stderr.len());
    assert_eq!(db.eval("User.count"), "0");
}

#[test]
fn import_refuses_ids_a_script_cannot_hold() {
    let db = Db::new();
    let (code, stderr) = import(&db, &[user_line("9223372036854775808", "huge", "Huge")]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("ids run from 1 to 9223372036854775807"),
        "{stderr}"
    );
    assert_eq!(db.eval("User.count"), "0");
    let (code, stderr) = import(&db, &[user_line("9223372036854775807", "top", "Top")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(db.eval("User.first.id"), "9223372036854775807");
}

#[test]
fn import_refuses_a_session_whose_ip_is_not_an_address() {
    let source = Db::seeded(2, 2);
    let exported = source.cmd().arg("export").output().unwrap().stdout;
    let exported = String::from_utf8(exported).unwrap();
    let mut lines: Vec<String> = exported.lines().skip(1).map(str::to_owned).collect();
    let session = lines
        .iter_mut()
        .find(|l| l.contains(r#""type":"session""#))
        .expect("a session");
    let mut value: serde_json::Value = serde_json::from_str(session).unwrap();
    value["ip_address"] = "not-an-ip".into();
    *session = value.to_string();
    let db = Db::new();
    let (code, stderr) = import(&db, &lines);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains(r#"invalid ip_address: "not-an-ip" is not an IPv4 or IPv6 address"#),
        "{stderr}"
    );
    assert_eq!(db.eval("User.count"), "0");
}

#[test]
fn a_sign_in_from_a_script_needs_a_real_address() {
    let db = Db::seeded(1, 0);
    for (ip, ok) in [
        ("10.1.2.3", true),
        ("2001:db8::7", true),
        ("10.1.2", false),
        ("", false),
    ] {
        let output = db
            .cmd()
            .arg("-e")
            .arg(format!(
                r#"ActiveSession.set(User.first, #{{ip_address: "{ip}", user_agent: "curl/8"}}).ip_address"#
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), ok, "{ip}: {stderr}");
        if !ok {
            assert_eq!(output.status.code(), Some(1));
            assert!(
                stderr.contains("is not an IPv4 or IPv6 address"),
                "{stderr}"
            );
        }
    }
    assert_eq!(db.eval("User.first.sessions.count"), "2");
}

#[test]
fn config_set_states_the_accepted_range() {
    let db = Db::new();
    for value in ["0", "many", "4294967296"] {
        let output = db
            .cmd()
            .args(["config", "set", "session_limit", value])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("expected a whole number from 1 to 4294967295"),
            "{value}: {stderr}"
        );
    }
}
