//! Hosting a store for other processes. The process that holds a store serves [`serve`], the
//! HTTP API through which applications sign their users in and authenticate their requests,
//! and [`attach`], the owner-only Unix socket on which the process holding a sled store
//! evaluates for other `sessionctl` processes on the same store. It sits above the console
//! and batch mode (whose code it runs for its clients) and below the command line.

pub mod attach;
pub mod serve;
