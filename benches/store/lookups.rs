//! Username look-ups: `Registry::find_by_username`, `User.find_by_username` in a rhai loop,
//! and the raw `get` in the current `users_by_username` tree decoded with the project's
//! `record::decode_username_entry`.

use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rhai::{Array, Dynamic};
use sessionctl::registry::Registry;
use sessionctl::store::record;

use crate::build::BenchUser;
use crate::raw::Trees;
use crate::report::{Row, median, per_second, rate, seconds};
use crate::{Bench, READ_RUNS, evaluator};

impl Bench {
    /// Random existing usernames looked up: by the registry, in a rhai loop, raw.
    pub fn lookups(
        &mut self,
        registry: &Rc<Registry>,
        raw: &Trees,
        users: &[BenchUser],
    ) -> [Row; 2] {
        let k = self.options.lookups();
        let by_username = &raw.by_username;
        let mut rng = StdRng::seed_from_u64(4);
        let picks: Vec<&str> = (0..k)
            .map(|_| users[rng.random_range(0..users.len())].username.as_str())
            .collect();
        let mut evaluator = evaluator(registry.clone());
        evaluator.set_variable(
            "NAMES",
            picks
                .iter()
                .map(|&name| Dynamic::from(name.to_owned()))
                .collect::<Array>(),
        );
        let script = "let n = 0; for name in NAMES { if type_of(User.find_by_username(name)) == \"User\" { n += 1 } } n";
        let (mut ours, mut engine, mut theirs) = (vec![], vec![], vec![]);
        for _ in 0..READ_RUNS {
            let started = Instant::now();
            for name in &picks {
                let user = registry
                    .find_by_username(name)
                    .expect("look-up")
                    .expect("user");
                black_box(user);
            }
            ours.push(started.elapsed());

            let started = Instant::now();
            let found = evaluator
                .eval("bench", script)
                .expect("eval")
                .as_int()
                .expect("int");
            engine.push(started.elapsed());
            assert_eq!(found as usize, k, "the rhai loop missed users");

            let started = Instant::now();
            for name in &picks {
                // The entry: the user id, then a copy of the user's record.
                let entry = by_username
                    .get(record::index_key(name))
                    .expect("raw get")
                    .expect("indexed");
                black_box(record::decode_username_entry(&entry).expect("raw decode"));
            }
            theirs.push(started.elapsed());
        }
        let (ours, engine, theirs) = (median(ours), median(engine), median(theirs));
        self.notes.push(format!(
            "find_by_username baseline: raw get in the current users_by_username tree \
             (record::index_key) + record::decode_username_entry (the entry holds the user id \
             and a copy of the user's record); K = {k} random \
             existing usernames; the rhai loop holds them in an array variable and its time \
             includes compiling the script"
        ));
        let raw_text = format!("{} ({k} in {})", rate(k as u64, theirs), seconds(theirs));
        let engine_rate = per_second(k as u64, engine);
        [
            Row {
                operation: "find_by_username: Registry",
                ours: format!("{} ({k} in {})", rate(k as u64, ours), seconds(ours)),
                raw: raw_text.clone(),
                ratio: per_second(k as u64, ours) / per_second(k as u64, theirs),
                target: "(report)",
                pass: None,
            },
            Row {
                operation: "User.find_by_username in rhai loop",
                ours: format!("{} ({k} in {})", rate(k as u64, engine), seconds(engine)),
                raw: raw_text,
                ratio: engine_rate / per_second(k as u64, theirs),
                target: ">= 200 k/s",
                pass: Some(engine_rate >= 200_000.0),
            },
        ]
    }
}

impl crate::Options {
    /// Username look-ups measured per run.
    fn lookups(&self) -> usize {
        self.users.min(100_000) as usize
    }
}
