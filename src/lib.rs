//! sessionctl: an admin console for users' login sessions.
//!
//! The layers, bottom up: [`model`] (the records), [`store`] (the only code that touches the
//! database), [`registry`] (every domain rule: limits, expiry, revocation), [`script`] (the
//! rhai API that the console and batch mode share), and the command line in [`cli`].

pub mod clock;
pub mod error;
pub mod model;
pub mod registry;
pub mod script;
pub mod secret;
pub mod store;
pub mod useragent;

pub use error::{Error, Result};
