//! The `sessionctl` binary: everything is in the library; this prints the error once and maps
//! it to the exit code (0 ok, 1 script or runtime error, 2 usage or database error).

use std::process::ExitCode;

fn main() -> ExitCode {
    match sessionctl::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !error.is_reported() {
                eprintln!("sessionctl: {error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
