//! The `sessionctl` binary: everything is in the library; this prints the error once and maps
//! it to the exit code (0 ok, 1 script or runtime error, 2 usage or database error).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match sessionctl::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !error.is_reported() {
                // Standard error may be closed too: nothing is left to tell then.
                let _ = writeln!(std::io::stderr(), "sessionctl: {error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
