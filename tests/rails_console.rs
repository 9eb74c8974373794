//! Every rhai spelling in docs/rails-console.md runs against a fresh demo database, and the
//! check written under it holds afterwards.

use std::rc::Rc;
use std::sync::Arc;

use sessionctl::clock::SystemClock;
use sessionctl::registry::Registry;
use sessionctl::script::{Evaluator, Limits, Output};

struct Example {
    code: String,
    check: String,
}

fn examples() -> Vec<Example> {
    let doc = include_str!("../docs/rails-console.md");
    let mut examples = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("```rhai\n") {
        let after = &rest[start + 8..];
        let end = after.find("```").expect("closed block");
        let code = after[..end].to_owned();
        let tail = &after[end + 3..];
        let check = tail
            .trim_start()
            .strip_prefix("<!-- check: ")
            .and_then(|c| c.split_once(" -->"))
            .map_or_else(
                || panic!("no check under:\n{code}"),
                |(check, _)| check.to_owned(),
            );
        examples.push(Example { code, check });
        rest = tail;
    }
    examples
}

#[test]
fn every_rhai_spelling_in_the_doc_does_what_it_says() {
    let examples = examples();
    assert!(examples.len() >= 9, "found {}", examples.len());
    for example in examples {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(
            sessionctl::store::open(dir.path(), sessionctl::store::Mode::Create).unwrap(),
            Arc::new(SystemClock),
        )
        .unwrap();
        sessionctl::demo::build(&registry, sessionctl::demo::DEMO).unwrap();
        let (out, printed) = Output::capture();
        let mut evaluator =
            Evaluator::new(Rc::new(registry), Limits::BATCH, out, Output::capture().0);
        let _ = evaluator
            .eval("rails-console.md", &example.code)
            .unwrap_or_else(|e| panic!("{}\n{e}", example.code));
        evaluator.set_variable("OUTPUT", printed.text());
        let held = evaluator
            .eval("check", &example.check)
            .unwrap_or_else(|e| panic!("{}\n{e}", example.check));
        assert!(
            held.as_bool().unwrap_or(false),
            "check failed: {}\nafter:\n{}",
            example.check,
            example.code
        );
    }
}
