//! The benches' command line (shared by `benches/store` and `benches/redis`): `--quick`,
//! `--users N`, `--sessions M` and `--memory-users U`; what cargo adds (`--bench`) is ignored.

pub struct Options {
    pub users: u64,
    pub sessions: u32,
    /// Users of the peak-memory row (`benches/store` only).
    pub memory_users: u64,
    pub quick: bool,
}

impl Options {
    /// Reads the arguments; `--quick` sets `quick_users` users (and 100,000 memory users).
    pub fn from_args(quick_users: u64) -> Self {
        let mut options = Options {
            users: 100_000,
            sessions: 10,
            memory_users: 1_000_000,
            quick: false,
        };
        let mut args = std::env::args().skip(1);
        let number = |flag: &str, value: Option<String>| -> u64 {
            value
                .and_then(|v| v.replace('_', "").parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("{flag} needs a positive whole number"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => {
                    options.quick = true;
                    options.users = quick_users;
                    options.memory_users = 100_000;
                }
                "--users" => options.users = number("--users", args.next()),
                "--sessions" => {
                    options.sessions = u32::try_from(number("--sessions", args.next()))
                        .expect("--sessions fits 32 bits");
                }
                "--memory-users" => options.memory_users = number("--memory-users", args.next()),
                _ => {}
            }
        }
        options
    }

    /// The session limit: twice the sessions each user has on average, the most the store
    /// bench's generator gives one user (so about one user in 2M+1 is exactly at the limit),
    /// and more than any user of the Redis bench has (no measured sign-in evicts).
    pub fn limit(&self) -> u32 {
        self.sessions * 2
    }

    /// Sign-ins (and touches) measured per row.
    pub fn sign_ins(&self) -> usize {
        (self.users / 10).clamp(1, 10_000) as usize
    }
}
