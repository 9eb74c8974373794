//! The scripting API against a small seeded database, in process.

use std::rc::Rc;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::output::Captured;
use super::*;
use crate::clock::ManualClock;
use crate::model::{NewUser, SignIn};

const FIREFOX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

struct Fixture {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    eval: Evaluator,
    out: Captured,
    err: Captured,
}

fn fixture() -> Fixture {
    fixture_with(false)
}

fn fixture_with(dry_run: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    ));
    let registry = Registry::new(
        crate::store::open(dir.path(), crate::store::Mode::Create).unwrap(),
        clock.clone(),
    )
    .unwrap();
    for (username, name) in [
        ("exampleuser", "Example User"),
        ("alice", "Alice"),
        ("bob", "Bob"),
    ] {
        let user = registry
            .create_user(NewUser {
                username: username.into(),
                email: format!("{username}@example.com"),
                name: name.into(),
                ..NewUser::default()
            })
            .unwrap();
        for i in 0..user.id {
            registry
                .sign_in(
                    user.id,
                    SignIn {
                        ip_address: format!("10.0.0.{i}"),
                        user_agent: FIREFOX.into(),
                        ..SignIn::default()
                    },
                )
                .unwrap();
            clock.advance(Duration::minutes(1));
        }
    }
    let registry = registry
        .audited_as(crate::registry::Actor {
            os_user: "tester".into(),
            origin: "test.rhai".into(),
        })
        .dry_run(dry_run);
    let (out, out_text) = Output::capture();
    let (err, err_text) = Output::capture();
    let eval = Evaluator::new(Rc::new(registry), Limits::BATCH, out, err);
    Fixture {
        _dir: dir,
        clock,
        eval,
        out: out_text,
        err: err_text,
    }
}

impl Fixture {
    fn value(&mut self, code: &str) -> Dynamic {
        self.eval
            .eval("test.rhai", code)
            .unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    fn run(&mut self, code: &str) {
        let _ = self.value(code);
    }

    fn plain(&mut self, code: &str) -> String {
        plain(&self.value(code))
    }

    fn fail(&mut self, code: &str) -> ScriptError {
        self.eval.eval("test.rhai", code).expect_err(code)
    }
}

#[test]
fn user_lookups_read_like_rails() {
    let mut f = fixture();
    assert_eq!(f.plain("User.find(1).username"), "exampleuser");
    assert_eq!(f.plain("User.find(\"2\").username"), "alice");
    assert_eq!(f.plain("User.find_by_username(\"ALICE\").id"), "2");
    assert_eq!(f.plain("User.find_by_username(\"nobody\")"), "");
    assert_eq!(
        f.plain("User.find_by(#{email: \"bob@example.com\"}).name"),
        "Bob"
    );
    assert_eq!(f.plain("User.find_by(#{username: \"bob\", id: 3}).id"), "3");
    assert_eq!(f.plain("User.find_by(#{username: \"bob\", id: 2})"), "");
    assert_eq!(f.plain("User.count"), "3");
    assert_eq!(f.plain("User.count()"), "3");
    assert_eq!(f.plain("User.all.len()"), "3");
    assert_eq!(f.plain("User.all().count"), "3");
    assert_eq!(f.plain("let n = 0; for u in User.all { n += u.id } n"), "6");
    assert_eq!(
        f.plain("let names = []; User.find_each(|u| names.push(u.username)); names.len()"),
        "3"
    );
    assert_eq!(f.plain("User.all.to_array().len()"), "3");
    assert_eq!(
        f.plain("User.find(1)"),
        "#1 exampleuser (Example User) <exampleuser@example.com>"
    );
    assert!(
        inspect(&f.value("User.find(1)")).starts_with("#<User id: 1, username: \"exampleuser\"")
    );
}

#[test]
fn find_of_a_missing_user_is_a_catchable_error_with_a_position() {
    let mut f = fixture();
    let error = f.fail("let x = 1;\nlet u = User.find(123);");
    assert_eq!(error.message, "User not found: id=123");
    assert_eq!((error.line, error.column), (2, 14));
    assert_eq!(error.headline(), "test.rhai:2:14: User not found: id=123");
    assert_eq!(
        f.plain("let r = (); try { User.find(123); } catch (e) { r = `caught: ${e}`; } r"),
        "caught: User not found: id=123"
    );
}

#[test]
fn bad_arguments_name_the_function_what_it_got_and_what_it_accepts() {
    let mut f = fixture();
    let error = f.fail("User.find_by(#{phone: \"1\"})");
    assert!(
        error
            .message
            .contains("unknown key \"phone\"; the accepted keys are id, username, email"),
        "{}",
        error.message
    );
    let error = f.fail("ActiveSession.list(42)");
    assert_eq!(
        error.message,
        "ActiveSession.list: expected a User, an array of Users or User.all, got integer 42"
    );
    let error = f.fail("User.find([1])");
    assert!(
        error
            .message
            .starts_with("User.find: expected an integer id, got array"),
        "{}",
        error.message
    );
}

#[test]
fn sessions_list_most_recent_first_and_stream_for_many_users() {
    let mut f = fixture();
    assert_eq!(f.plain("ActiveSession.list(User.find(3)).len()"), "3");
    assert_eq!(
        f.plain("let s = ActiveSession.list(User.find(3)); s[0].updated_at > s[1].updated_at"),
        "true"
    );
    assert_eq!(f.plain("User.find(2).sessions.len()"), "2");
    assert_eq!(f.plain("ActiveSession.list(User.all).count"), "6");
    assert_eq!(f.plain("ActiveSession.count"), "6");
    assert_eq!(
        f.plain("ActiveSession.list([User.find(1), User.find(3)]).len()"),
        "4"
    );
    assert_eq!(
        f.plain("let n = 0; for s in ActiveSession.list(User.all) { n += 1 } n"),
        "6"
    );
    assert_eq!(
        f.plain("let s = User.find(1).sessions[0]; s.browser + \" on \" + s.os"),
        "Firefox on Ubuntu"
    );
    assert_eq!(
        f.plain("User.find(1).sessions[0].user.username"),
        "exampleuser"
    );
    assert_eq!(
        f.plain("User.find(1).sessions[0].session_private_id.len()"),
        "67"
    );
    // Device fields are rhai strings.
    assert_eq!(
        f.plain("let s = User.find(1).sessions[0]; [type_of(s.ip_address), type_of(s.browser), type_of(s.device_type)]"),
        "[\"string\", \"string\", \"string\"]"
    );
}

#[test]
fn relations_map_and_filter_like_ruby_enumerables() {
    let mut f = fixture();
    assert_eq!(
        f.plain("User.all.map(|u| u.username)"),
        "[\"exampleuser\", \"alice\", \"bob\"]"
    );
    assert_eq!(
        f.plain("User.all.filter(|u| u.name.starts_with(\"A\")).map(|u| u.id)"),
        "[2]"
    );
    assert_eq!(
        f.plain("ActiveSession.list(User.all).map(|s| s.ip_address).len()"),
        "6"
    );
    assert_eq!(
        f.plain("ActiveSession.list(User.find(2)).map(|s| s.user_id)"),
        "[2, 2]"
    );
}

#[test]
fn set_creates_then_refreshes_and_shows_the_public_id_once() {
    let mut f = fixture();
    f.run("let u = User.find(1); let s = ActiveSession.set(u, #{ip_address: \"1.2.3.4\", user_agent: \"curl/8.0\"});");
    let public_id = f.plain("s.public_id");
    assert_eq!(public_id.len(), 32);
    assert_eq!(f.plain("u.sessions.len()"), "2");
    assert_eq!(f.plain("u.sessions[0].public_id"), "");
    f.clock.advance(Duration::hours(1));
    f.run("ActiveSession.set(u, #{public_id: s.public_id, ip_address: \"5.6.7.8\", user_agent: \"curl/8.0\"})");
    assert_eq!(f.plain("u.sessions.len()"), "2");
    assert_eq!(f.plain("u.sessions[0].ip_address"), "5.6.7.8");
    assert_eq!(f.plain("u.sessions[0].created_at == s.created_at"), "true");
    assert!(!f.out.text().contains(&public_id));
}

#[test]
fn destroying_sessions_and_everything() {
    let mut f = fixture();
    f.run("let u = User.find(3); u.remember_me();");
    assert_eq!(f.plain("u.remember_tokens"), "1");
    assert_eq!(
        f.plain("ActiveSession.destroy_session(u, u.sessions[0].session_private_id)"),
        "true"
    );
    assert_eq!(f.plain("u.remember_tokens"), "0");
    assert_eq!(f.plain("ActiveSession.destroy_session(u, ())"), "false");
    assert_eq!(f.plain("u.sessions[0].destroy()"), "true");
    assert_eq!(f.plain("u.sessions.len()"), "1");
    assert_eq!(f.plain("ActiveSession.list(User.find(2)).each(|s| ActiveSession.destroy_session(User.find(2), s.session_private_id)); ActiveSession.list(User.find(2))"), "[]");
    assert_eq!(
        f.plain("let r = ActiveSession.destroy_all; `${r.sessions} of ${r.users}`"),
        "2 of 2"
    );
    assert_eq!(f.plain("ActiveSession.count()"), "0");
}

#[test]
fn the_remaining_table_rows() {
    let mut f = fixture();
    assert_eq!(f.plain("let c = User.create(#{username: \"carol\", email: \"carol@example.com\", name: \"Carol\"}); c.id"), "4");
    assert_eq!(
        f.plain(
            "User.find(4).state + \" \" + User.find(4).admin + \" \" + User.find(4).last_sign_in_at"
        ),
        "active false "
    );
    assert_eq!(
        f.plain("let u = User.find(3); u.remember_me(); u.remember_me(); u.forget_me()"),
        "2"
    );
    assert_eq!(f.plain("User.find(3).remember_tokens"), "0");
    assert_eq!(f.plain("let s = User.find(2).sessions[0]; s.human_device_type + \" \" + s.device_type + \" \" + s.user_id"), "Desktop desktop 2");
    assert_eq!(f.plain("let s = User.find(2).sessions[0]; s.is_current(s.session_private_id) && !s.is_current(())"), "true");
    assert_eq!(f.plain("ActiveSession.set(User.find(3), #{ip_address: \"9.9.9.9\", user_agent: \"x\", impersonated: true, admin_mode: true}).admin_mode"), "true");
    assert_eq!(
        f.plain("ActiveSession.destroy_all_but_current(User.find(3), User.find(3).sessions[1])"),
        "2"
    );
    let kept = f.plain("User.find(3).sessions.map(|s| s.is_impersonated).len()");
    assert_eq!(kept, "2");
    assert_eq!(f.plain("ActiveSession.cleanup(User.find(3))"), "0");
    let error = f.fail("ActiveSession.revoke(User.find(3), User.find(3).sessions[0].session_private_id, User.find(3).sessions[0].session_private_id)");
    assert!(
        error
            .message
            .starts_with("cannot revoke the current session"),
        "{}",
        error.message
    );
    assert_eq!(f.plain("ActiveSession.sweep_expired().sessions"), "0");
    let error = f.fail("ActiveSession.set(User.find(3), #{ip: \"1\"})");
    assert!(
        error
            .message
            .contains("unknown key \"ip\"; the accepted keys are"),
        "{}",
        error.message
    );
}

#[test]
fn times_compare_and_combine_with_durations() {
    let mut f = fixture();
    assert_eq!(f.plain("now()"), "2026-01-01T12:06:00+00:00");
    assert_eq!(f.plain("now() - days(30)"), "2025-12-02T12:06:00+00:00");
    assert_eq!(f.plain("now() - (now() - hours(2))"), "2h");
    assert_eq!(f.plain("User.find(1).created_at < now()"), "true");
    f.clock.advance(Duration::days(3));
    f.run("let u = User.find(3); ActiveSession.set(u, #{ip_address: \"1.1.1.1\", user_agent: \"x\"});");
    let revoked = f.plain("let n = 0; for s in ActiveSession.list(User.all) { if s.updated_at < now() - days(2) { s.destroy(); n += 1; } } n");
    assert_eq!(revoked, "6");
    assert_eq!(f.plain("ActiveSession.count"), "1");
}

#[test]
fn the_currently_logged_in_users_report() {
    let mut f = fixture();
    f.run(
        r"User.find_each(|user| {
            let sessions = ActiveSession.list(user);
            if sessions.any() {
                puts(`${user.username} (${user.name}):`);
                sessions.each(|session| {
                    puts(`  - IP: ${session.ip_address}, Browser: ${session.browser}, Last active: ${session.updated_at}`);
                });
            }
        });",
    );
    let text = f.out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9, "{text}");
    assert_eq!(lines[0], "exampleuser (Example User):");
    assert_eq!(
        lines[1],
        "  - IP: 10.0.0.0, Browser: Firefox, Last active: 2026-01-01T12:00:00+00:00"
    );
    assert_eq!(lines[2], "alice (Alice):");
}

#[test]
fn puts_pp_and_print_forms() {
    let mut f = fixture();
    f.run(
        "puts(User.find(2)); pp(User.find(2).sessions[0]); print(User.find(2)); puts([1, \"two\"])",
    );
    let text = f.out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#2 alice (Alice) <alice@example.com>");
    assert!(
        lines[1].starts_with("#<ActiveSession ip_address: \"10.0.0.1\", browser: \"Firefox\""),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "#2 alice (Alice) <alice@example.com>");
    assert_eq!(&lines[3..], ["1", "two"]);
    assert_eq!(f.plain("[1, 2].any()"), "true");
    assert_eq!(f.plain("[].any()"), "false");
    assert_eq!(f.plain("[1, 2].any(|x| x > 1)"), "true");
}

#[test]
fn functions_and_variables_persist_between_inputs() {
    let mut f = fixture();
    f.run("fn twice(x) { x * 2 }");
    f.run("let a = 21;");
    assert_eq!(f.plain("twice(a)"), "42");
    assert_eq!(f.plain("_ + 1"), "43");
}

#[test]
fn dry_run_reports_and_changes_nothing() {
    let mut f = fixture_with(true);
    f.run("ActiveSession.destroy_all; User.create(#{username: \"new\", email: \"new@example.com\"}); ActiveSession.destroy_session(User.find(3), User.find(3).sessions[0].session_private_id)");
    assert_eq!(f.plain("ActiveSession.count"), "6");
    assert_eq!(f.plain("User.count"), "3");
    let err = f.err.text();
    // One summary line: each mutation made once is told whole.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("dry run: would destroy_all: 6 sessions of 3 users"),
        "{err}"
    );
    assert!(
        err.contains("; create_user: user new <new@example.com>"),
        "{err}"
    );
    assert!(
        err.contains("; destroy_session: 1 session of bob (id=3)"),
        "{err}"
    );
    assert_eq!(f.plain("Audit.recent(10).len()"), "0");
}

#[test]
fn mutations_are_audited() {
    let mut f = fixture();
    f.run("ActiveSession.destroy_all_but_current(User.find(3), ())");
    assert_eq!(f.plain("let a = Audit.recent(1)[0]; `${a.action} ${a.origin} ${a.os_user} ${a.sessions} ${a.user_ids}`"), "destroy_all_but_current test.rhai tester 3 [3]");
}

/// Regression (found by the store bench after #12's runs took every mutation): a run is one
/// evaluation; a mutation the registry makes afterwards for another caller is its own entry.
#[test]
fn issue_12_a_run_ends_with_its_evaluation() {
    let mut f = fixture();
    f.run(r#"User.create(#{username: "carol", email: "carol@example.com", name: "Carol"})"#);
    f.eval
        .registry()
        .create_user(NewUser {
            username: "dave".into(),
            email: "dave@example.com".into(),
            name: "Dave".into(),
            ..NewUser::default()
        })
        .unwrap();
    let entries = f.eval.registry().recent_audit(10).unwrap();
    let created: Vec<&str> = entries
        .iter()
        .filter(|e| e.action == "create_user")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(created.iter().any(|d| d.contains("dave")), "{created:?}");
    assert!(created.iter().any(|d| d.contains("carol")), "{created:?}");
}

#[test]
fn an_interrupt_stops_a_loop() {
    let mut f = fixture();
    let flag = f.eval.interrupt_flag();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let error = f.fail("let n = 0; loop { n += 1; }");
    stopper.join().unwrap();
    assert_eq!(error.kind, ErrorKind::Interrupted);
    // The next input runs normally.
    assert_eq!(f.plain("User.count"), "3");
}

#[test]
fn the_operation_limit_stops_a_runaway_script() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(
        crate::store::open(dir.path(), crate::store::Mode::Create).unwrap(),
        Arc::new(crate::clock::SystemClock),
    )
    .unwrap();
    let limits = Limits {
        max_operations: Some(10_000),
        ..Limits::BATCH
    };
    let mut eval = Evaluator::new(
        Rc::new(registry),
        limits,
        Output::capture().0,
        Output::capture().0,
    );
    let error = eval
        .eval("loop.rhai", "let n = 0;\nwhile true { n += 1; }")
        .unwrap_err();
    assert!(
        error.message.contains("operation limit"),
        "{}",
        error.message
    );
    assert_eq!(error.kind, ErrorKind::Runtime);
}

#[test]
fn scripts_reach_nothing_outside() {
    let mut f = fixture();
    assert!(
        f.fail("import \"/etc/passwd\" as p;")
            .message
            .contains("import")
    );
}

#[test]
fn incomplete_input_is_recognised() {
    let f = fixture();
    for code in [
        "User.find_each(|u| {",
        "let x = [1,",
        "fn f(x) {",
        "if true {",
        "let s = `multi",
    ] {
        assert!(f.eval.is_incomplete(code), "{code}");
    }
    for code in ["let x = 1;", "1 +* 2", "let s = \"open"] {
        assert!(!f.eval.is_incomplete(code), "{code}");
    }
}

/// Arguments that make a call with these parameters run.
fn sample(params: &str) -> &'static str {
    match params {
        "" | "[|session| ..]" | "[|x| ..]" => "",
        "n" | "value" | "id" => "1",
        "text" => "\"2026-01-01T00:00:00Z\"",
        "username" => "\"u\"",
        "email" => "\"u@example.com\"",
        "#{username|email|id: ..}" => "#{id: 1}",
        "#{id, username, email, name, admin, blocked}" => "#{admin: true}",
        "#{name, email}" => "#{name: \"U\"}",
        "field" => "\"browser\"",
        "#{ip, browser, os, device_type, idle_for, active_within, signed_in_before, signed_in_after, impersonated, admin_mode, user}" => {
            "#{ip: \"10.0.0.0/8\"}"
        }
        "|user| .." | "|session| .." | "|x| .." => "|x| true",
        "|sum, x| .., initial" => "|sum, x| sum + x, 0",
        "#{username, email, name, admin, blocked}" => {
            "#{username: \"v\", email: \"v@example.com\"}"
        }
        "user | [users] | User.all" | "user" => "user",
        "user, #{ip_address, user_agent, public_id, impersonated, admin_mode}" => {
            "user, #{ip_address: \"10.0.0.2\"}"
        }
        "user, private_id" => "user, \"2::0\"",
        "user, [private_ids]" => "user, []",
        "user, current_private_id | ()" => "user, ()",
        "user, private_id, current_private_id | ()" => "user, \"2::0\", ()",
        other => panic!("no sample arguments for ({other})"),
    }
}

/// Every entry of the catalogue is one the engine has: calling it finds a function.
#[test]
fn every_catalogue_entry_is_in_the_engine() {
    let mut f = fixture();
    let evaluator = &mut f.eval;
    let _ = evaluator.eval("setup", catalogue::probe::SETUP).unwrap();
    let missing = |evaluator: &mut Evaluator, code: &str| {
        evaluator
            .eval("probe", code)
            .err()
            .is_some_and(|e| e.unknown_name && e.kind == ErrorKind::Runtime)
    };
    assert!(
        missing(evaluator, "user.nonsense"),
        "the probe must see a missing property"
    );
    assert!(
        missing(evaluator, "User.nonsense(1)"),
        "the probe must see a missing method"
    );
    for &(kind, receiver) in catalogue::probe::RECEIVERS {
        for member in catalogue::members(kind) {
            let code = match member.params {
                Some(params) => format!("{receiver}{}({})", member.name, sample(params)),
                None => format!("{receiver}{}", member.name),
            };
            assert!(
                !missing(evaluator, &code),
                "{code} is described but the engine has no such member"
            );
        }
    }
}

#[test]
fn every_list_answers_the_same_calls() {
    // User 3 has three sessions, user 2 two, user 1 one.
    let mut f = fixture();
    for list in [
        "ActiveSession.list(User.find(3))",
        "User.find(3).sessions",
        "ActiveSession.list([User.find(3)])",
        "ActiveSession.list([User.find(3), User.find(3)])",
        "ActiveSession.list(User.all).filter(|s| s.user_id == 3)",
    ] {
        for (call, expected) in [
            ("count", "3"),
            ("count()", "3"),
            ("size", "3"),
            ("len()", "3"),
            ("first.user_id", "3"),
            ("first().user_id", "3"),
            ("last.user_id", "3"),
            ("[0].user_id", "3"),
            ("[-1].user_id", "3"),
        ] {
            assert_eq!(
                f.plain(&format!("{list}.{call}").replace(".[", "[")),
                expected,
                "{list}.{call}"
            );
        }
    }
    assert_eq!(f.plain("ActiveSession.list(User.all).count"), "6");
    assert_eq!(f.plain("ActiveSession.list(User.all)[5].user_id"), "3");
    assert_eq!(f.plain("ActiveSession.list(User.all).last.user_id"), "3");
    assert_eq!(f.plain("ActiveSession.list(User.all).first.user_id"), "1");
    assert_eq!(f.plain("User.first.username"), "exampleuser");
    assert_eq!(f.plain("User.last.username"), "bob");
    assert_eq!(f.plain("User.all[1].username"), "alice");
    assert_eq!(f.plain("User.all.size"), "3");
    assert_eq!(f.plain("[].first"), "");
    let error = f.fail("User.all[3]");
    assert_eq!(
        error.message,
        "index 3 is out of range: the list has 3 elements"
    );
}

#[test]
fn user_where_takes_exact_fields_and_like_patterns() {
    let mut f = fixture();
    let names = "User.where(COND).map(|u| u.username)";
    let mut found = |cond: &str| f.plain(&names.replace("COND", cond));
    assert_eq!(
        found("#{email: \"%@EXAMPLE.com\"}"),
        "[\"exampleuser\", \"alice\", \"bob\"]"
    );
    assert_eq!(found("#{username: \"%e\"}"), "[\"alice\"]");
    assert_eq!(found("#{name: \"b_b\", admin: false}"), "[\"bob\"]");
    assert_eq!(found("#{id: 2}"), "[\"alice\"]");
    assert_eq!(found("#{admin: true}"), "[]");
    assert_eq!(
        found("#{blocked: false, username: \"alice\"}"),
        "[\"alice\"]"
    );
    assert_eq!(
        f.fail("User.where(#{mail: \"x\"})").message,
        "User.where: unknown key \"mail\"; the accepted keys are id, username, email, name, admin, blocked"
    );
    assert_eq!(
        f.fail("User.where(#{admin: \"yes\"})").message,
        "User.where: admin must be true or false, got string \"yes\""
    );
    assert!(
        f.fail("User.where(\"alice\")").message.starts_with(
            "User.where: expected a map such as #{email: \"%@example.com\"}, got string"
        )
    );
}

#[test]
fn wrong_calls_say_what_the_function_takes_and_what_it_got() {
    let mut f = fixture();
    let error = f.fail("ActiveSession.set(())");
    assert!(
        error.message.starts_with(
            "ActiveSession.set takes ActiveSession.set(user, #{ip_address, user_agent, public_id, impersonated, admin_mode}) → ActiveSession; it was given (())"
        ),
        "{}",
        error.message
    );
    assert!(error.message.contains("empty value"), "{}", error.message);
    let error = f.fail("User.find_by_username(5)");
    assert_eq!(
        error.message,
        "User.find_by_username takes User.find_by_username(username) → User; it was given (integer)"
    );
    let error = f.fail("User.first.nonsense(\"x\")");
    assert_eq!(error.message, "no function nonsense takes (User, string)");
    let error = f.fail("User.all.each(|a, b| a)");
    assert!(
        error
            .message
            .starts_with("a closure was called with (User)"),
        "{}",
        error.message
    );
    let error = f.fail("let u = User.find_by_username(\"nobody\");\nActiveSession.list(u)");
    assert!(
        error
            .message
            .ends_with("; `u` is (), set by `let u = User.find_by_username(\"nobody\")` on line 1"),
        "{}",
        error.message
    );
    let error = f.fail("ActiveSession.list(User.find_by_username(\"nobody\"))");
    assert!(
        error.message.contains("got () (() is the empty value"),
        "{}",
        error.message
    );
    for error in [
        f.fail("ActiveSession.set(())"),
        f.fail("\"x\".contains(1, 2, 3)"),
        f.fail("let g = |x| x; g.call(1, 2)"),
    ] {
        for internal in ["Class", "anon$", "ImmutableString", "&str", "i64"] {
            assert!(!error.message.contains(internal), "{}", error.message);
        }
    }
}

#[test]
fn comparing_a_time_with_a_number_is_an_error() {
    let mut f = fixture();
    for code in ["now() < 5", "5 >= now()", "days(1) > 86400"] {
        let error = f.fail(code);
        assert!(
            error.message.starts_with("cannot compare a "),
            "{code}: {}",
            error.message
        );
    }
    assert_eq!(f.plain("now() - days(1) < now()"), "true");
}

#[test]
fn an_expressions_empty_value_is_shown() {
    let mut f = fixture();
    for (code, shown) in [
        ("User.find_by_username(\"nobody\")", true),
        ("let u = User.find_by_username(\"nobody\"); u", true),
        ("let u = 1", false),
        ("puts(\"x\")", false),
        ("for i in 0..2 { }", false),
    ] {
        let result = f.eval.eval_shown("test.rhai", code).unwrap();
        let is_unit = matches!(&result, Shown::Value(v) if v == "()");
        assert_eq!(is_unit, shown, "{code}");
    }
}

#[test]
fn the_timeout_stops_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(
        crate::store::open(dir.path(), crate::store::Mode::Create).unwrap(),
        Arc::new(crate::clock::SystemClock),
    )
    .unwrap();
    let limits = Limits {
        timeout: Some(std::time::Duration::from_millis(100)),
        ..Limits::CONSOLE
    };
    let mut eval = Evaluator::new(
        Rc::new(registry),
        limits,
        Output::capture().0,
        Output::capture().0,
    );
    let error = eval.eval("loop.rhai", "loop { }").unwrap_err();
    assert_eq!(error.kind, ErrorKind::Runtime);
    assert_eq!(
        error.message,
        "the script ran past its time limit of 100ms (--timeout)"
    );
    // The next evaluation has its own time.
    assert_eq!(plain(&eval.eval("next.rhai", "1 + 1").unwrap()), "2");
}

#[test]
fn block_update_and_unblock_change_the_user_and_are_audited() {
    let mut f = fixture();
    assert_eq!(f.plain("let u = User.find(2); u.block()"), "2");
    assert_eq!(f.plain("User.find(2).state"), "blocked");
    assert_eq!(f.plain("ActiveSession.list(User.find(2)).len()"), "0");
    assert_eq!(
        f.fail("ActiveSession.set(User.find(2), #{ip_address: \"10.0.0.9\"})")
            .message,
        "user alice (id=2) is blocked and cannot sign in"
    );
    assert_eq!(
        f.plain("let u = User.find(2); u.unblock(); u.state"),
        "active"
    );
    assert_eq!(
        f.plain("let u = User.find(2); u.update(#{name: \"Alice Liddell\", email: \"al@example.org\"}); [u.name, u.email]"),
        "[\"Alice Liddell\", \"al@example.org\"]"
    );
    assert_eq!(f.plain("User.find_by_email(\"AL@example.org\").id"), "2");
    let actions = f.plain("Audit.recent(3).map(|e| e.action)");
    assert_eq!(
        actions,
        "[\"update_user\", \"unblock_user\", \"block_user\"]"
    );
    assert!(
        f.fail("User.find(2).update(#{email: \"bob@example.com\"})")
            .message
            .starts_with("email \"bob@example.com\" is already taken by user id=3")
    );
    assert_eq!(
        f.fail("User.find(2).update(#{username: \"alicia\"})")
            .message,
        "invalid username: \"alicia\" cannot replace \"alice\": usernames are never renamed"
    );
    assert_eq!(
        f.fail("User.find(2).update(#{age: 3})").message,
        "user.update: unknown key \"age\"; the accepted keys are name, email (a username is never renamed)"
    );
}

#[test]
fn active_session_where_filters_every_users_sessions() {
    // Sessions: exampleuser 10.0.0.0; alice 10.0.0.0, .1; bob 10.0.0.0, .1, .2; one a minute.
    let mut f = fixture();
    let mut count = |cond: &str| f.plain(&format!("ActiveSession.where({cond}).count"));
    assert_eq!(count("#{}"), "6");
    assert_eq!(count("#{ip: \"10.0.0.1\"}"), "2");
    assert_eq!(count("#{ip: \"10.0.0.0/31\"}"), "5");
    assert_eq!(count("#{ip: \"2001:db8::/32\"}"), "0");
    assert_eq!(count("#{user: \"BOB\"}"), "3");
    assert_eq!(count("#{user: User.find(2), ip: \"10.0.0.1\"}"), "1");
    assert_eq!(count("#{user: 1}"), "1");
    assert_eq!(
        count("#{browser: \"firefox\", os: \"ubuntu\", device_type: \"desktop\"}"),
        "6"
    );
    assert_eq!(count("#{idle_for: minutes(3)}"), "4");
    assert_eq!(count("#{active_within: minutes(3)}"), "2");
    assert_eq!(count("#{signed_in_before: now() - minutes(5)}"), "1");
    assert_eq!(count("#{signed_in_after: now() - minutes(5)}"), "4");
    assert_eq!(count("#{admin_mode: true}"), "0");
    assert_eq!(count("#{impersonated: false}"), "6");
    assert_eq!(
        f.plain("ActiveSession.where(#{ip: \"10.0.0.0/8\"}).tally(\"ip_address\")"),
        "[[\"10.0.0.0\", 3], [\"10.0.0.1\", 2], [\"10.0.0.2\", 1]]"
    );
    assert_eq!(
        f.plain("ActiveSession.where(#{user: \"bob\"}).first.ip_address"),
        "10.0.0.2"
    );
    assert_eq!(
        f.plain("let n = 0; for s in ActiveSession.where(#{user: 3}) { n += 1 } n"),
        "3"
    );
}

#[test]
fn a_wrong_condition_of_active_session_where_names_the_key() {
    let mut f = fixture();
    assert_eq!(
        f.fail("ActiveSession.where(#{colour: 1})").message,
        "ActiveSession.where: unknown key \"colour\"; the accepted keys are ip, browser, os, device_type, idle_for, active_within, signed_in_before, signed_in_after, impersonated, admin_mode, user"
    );
    assert_eq!(
        f.fail("ActiveSession.where(#{idle_for: 30})").message,
        "ActiveSession.where: idle_for must be a duration such as days(30) or hours(2), got integer 30"
    );
    assert_eq!(
        f.fail("ActiveSession.where(#{signed_in_before: \"yesterday\"})")
            .message,
        "ActiveSession.where: signed_in_before must be a time such as now() - days(7), got string \"yesterday\""
    );
    assert_eq!(
        f.fail("ActiveSession.where(#{ip: \"10.0.0.0/99\"})")
            .message,
        "invalid ip: \"10.0.0.0/99\" is neither an IP address nor a CIDR range such as 10.0.0.0/8 or 2001:db8::/32"
    );
    assert_eq!(
        f.fail("ActiveSession.where(#{user: \"nobody\"})").message,
        "ActiveSession.where: user: no user with username \"nobody\""
    );
    assert_eq!(
        f.fail("ActiveSession.where(#{}).tally(\"colour\")").message,
        "invalid tally: unknown field \"colour\"; the fields are ip_address, browser, os, device_name, device_type, user_id, admin_mode, is_impersonated"
    );
    assert!(
        f.fail("ActiveSession.list(User.all).destroy()")
            .message
            .starts_with("destroy() revokes the sessions of ActiveSession.where(#{..})")
    );
}

#[test]
fn destroy_of_a_where_revokes_once_audited_and_asks_first() {
    let mut f = fixture();
    let asked = Rc::new(std::cell::RefCell::new(Vec::new()));
    let answer = Rc::new(std::cell::Cell::new(false));
    let (log, yes) = (asked.clone(), answer.clone());
    f.eval
        .confirm_destroy_all(Box::new(move |operation, counted| {
            log.borrow_mut().push(format!("{operation}: {counted}"));
            Ok(yes.get())
        }));
    let destroy = "ActiveSession.where(#{ip: \"10.0.0.1\"}).destroy()";
    assert_eq!(f.plain(destroy), "#{sessions: 0, users: 0}");
    assert_eq!(f.err.text(), "Nothing revoked.\n");
    assert_eq!(
        f.plain("ActiveSession.where(#{ip: \"10.0.0.1\"}).count"),
        "2"
    );
    answer.set(true);
    let audit = f.plain("Audit.recent(100).len()");
    assert_eq!(f.plain(destroy), "#{sessions: 2, users: 2}");
    assert_eq!(
        *asked.borrow(),
        [
            "ActiveSession.where(..).destroy: 2 sessions of 2 users",
            "ActiveSession.where(..).destroy: 2 sessions of 2 users"
        ]
    );
    assert_eq!(
        f.plain("ActiveSession.where(#{ip: \"10.0.0.1\"}).count"),
        "0"
    );
    assert_eq!(f.plain("ActiveSession.count"), "4");
    let after: usize = f.plain("Audit.recent(100).len()").parse().unwrap();
    assert_eq!(after, audit.parse::<usize>().unwrap() + 1);
    assert_eq!(
        f.plain("let e = Audit.recent(1)[0]; [e.action, e.sessions, e.user_ids]"),
        "[\"destroy_where\", 2, [2, 3]]"
    );
}

#[test]
fn a_dry_run_destroy_of_a_where_reports_and_keeps_everything() {
    let mut f = fixture_with(true);
    assert_eq!(
        f.plain("ActiveSession.where(#{user: \"bob\"}).destroy()"),
        "#{sessions: 3, users: 1}"
    );
    assert_eq!(
        f.err.text(),
        "dry run: would destroy_where: 3 sessions of 1 user matching user=3, remember-me tokens revoked\n"
    );
    assert_eq!(f.plain("ActiveSession.where(#{user: \"bob\"}).count"), "3");
}
