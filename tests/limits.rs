//! What bounds a batch script: `--timeout`, linear array building, and errors that echo
//! bounded input.

mod common;

use common::Db;

#[test]
fn building_a_large_array_is_linear() {
    // Quadratic growth took minutes for 200,000 pushes; linear takes about a second, well
    // inside the limit.
    let db = Db::new();
    let output = db
        .cmd()
        .args(["--timeout", "30s", "-e"])
        .arg("let a = []; for i in 0..200000 { a.push(i); } a.len()")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "200000");
}

#[test]
fn the_timeout_stops_a_script_with_exit_1() {
    let db = Db::new();
    let dir = db.scratch().join("spin.rhai");
    std::fs::write(&dir, "let n = 0;\nloop { n += 1; }\n").unwrap();
    let started = std::time::Instant::now();
    let output = db
        .cmd()
        .args(["--timeout", "300ms", "run"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("spin.rhai:2:")
            && stderr.contains("ran past its time limit of 300ms (--timeout)"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_timeout_is_a_usage_error() {
    let db = Db::new();
    let output = db
        .cmd()
        .args(["--timeout", "5 minutes", "-e", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ms, s, m or h"));
}

#[test]
fn errors_cut_long_values_and_lines() {
    let db = Db::new();
    let email = format!("{}@example.com", "a".repeat(100_000));
    let output = db
        .cmd()
        .arg("-e")
        .arg(format!(
            r#"User.create(#{{username: "bob", name: "Bob", email: "{email}"}})"#
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.len() < 1000, "{} bytes: {stderr}", stderr.len());
    assert!(stderr.contains('…'), "{stderr}");
    assert!(stderr.starts_with("-e:1:"), "{stderr}");
}
