//! The process that holds a store and serves other processes: [`serve`], the HTTP API through
//! which applications sign their users in and authenticate their requests, and `attach`, the
//! owner-only socket through which other sessionctl processes work on a held store (issue #14).

pub mod serve;
