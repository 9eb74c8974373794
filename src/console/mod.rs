//! The interactive console (placeholder until the console issue lands).

use crate::cli::{CliError, Global};
use crate::script::Evaluator;

pub fn run(_evaluator: Evaluator, _global: &Global) -> Result<(), CliError> {
    Err(CliError::Usage("the console is not built yet".into()))
}
