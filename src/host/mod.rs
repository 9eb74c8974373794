//! Hosting a store for other processes: [`attach`], the owner-only Unix socket on which the
//! process holding a sled store evaluates for other `sessionctl` processes on the same store.
//! It sits above the console and batch mode (whose code it runs for its clients) and below
//! the command line.

pub mod attach;
