//! Attach: the process holding a sled store (a console, a running `run` or `-e`, `serve`)
//! listens on `sessionctl.sock` in the database directory, and another `sessionctl --db PATH`
//! on that store attaches to it instead of failing with "in use": its `-e`, `run` and console
//! are evaluated by the holder, and its data commands (`export`, `import`, `config`…) run
//! there, on a view of the held registry audited as the attaching user with the client's own
//! dry run, and their output streamed back as printed.
//!
//! Safety: the directory must be 0700 (else the holder does not listen, and says so), the
//! socket is 0600, and a peer whose credentials (`SO_PEERCRED`) name another uid is refused. The
//! protocol ([`wire`]) is versioned: a holder and a client of different versions refuse each
//! other with a message naming both. The holder listens only while it holds the store's lock,
//! so a socket found by a process that took the lock was left by a holder that died: it is
//! replaced. A client that finds no one listening opens the store itself.

mod client;
mod holder;
pub mod wire;

use std::path::{Path, PathBuf};

pub use client::{Connection, Remote, connect};
pub use holder::Holder;

/// The socket's name in the database directory (ignored by the commit record's seal, as
/// every `sessionctl.*` name is).
pub const SOCKET: &str = "sessionctl.sock";

/// Listens for processes attaching to the sled store in `dir` that `registry` holds, as
/// `role` (their views keep `registry`'s dry run), until the holder is dropped. A failure to
/// listen is a warning: the command works on, alone.
pub fn hold(registry: &crate::registry::Registry, dir: &Path, role: &str) -> Option<Holder> {
    let base = registry.view(crate::registry::Actor::current(role), registry.is_dry_run());
    Holder::start(base, dir, role)
        .inspect_err(|error| crate::stdout::warn(format_args!("warning: {error}")))
        .ok()
}

/// The socket of the database directory `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// An attach error, reported (`sessionctl: …` on standard error): exit 2.
pub fn fail(error: &Error) -> crate::exit::CliError {
    crate::stdout::warn(format_args!("sessionctl: {error}"));
    crate::exit::CliError::Reported(2)
}

/// The width of the terminal on standard output, for the holder to lay tables out in; with
/// no terminal, no limit (as a local table off a terminal).
pub fn terminal_width() -> u16 {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|size| size.ws_col)
        .filter(|&columns| columns > 0)
        .unwrap_or(u16::MAX)
}

/// Why attaching, or listening for attached clients, failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "not listening for attached clients: {} is open to other users (mode {mode:o}); make it the owner's alone with `chmod 700 {}`",
        dir.display(), dir.display()
    )]
    OpenDirectory { dir: PathBuf, mode: u32 },

    #[error("cannot listen for attached clients on {}: {source}", socket.display())]
    Listen {
        socket: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "cannot attach to the process holding {} ({holder}): it speaks attach protocol version {theirs}, this sessionctl version {ours}; use the same sessionctl for both",
        db.display()
    )]
    Version {
        db: PathBuf,
        holder: String,
        theirs: u32,
        ours: u32,
    },

    #[error("the process holding {} refused to attach this one: {reason}", db.display())]
    Refused { db: PathBuf, reason: String },

    #[error(
        "{reason}: this command was stopped; run it again (it opens the database itself once free)"
    )]
    Closing { reason: String },

    #[error("lost the process holding {} ({holder}): {problem}", db.display())]
    Lost {
        db: PathBuf,
        holder: String,
        problem: String,
    },
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_peer_of_another_uid_is_refused_by_its_credentials() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let uid = rustix::process::getuid().as_raw();
        assert_eq!(super::holder::admit(&ours, uid), Ok(()));
        let refused = super::holder::admit(&ours, uid + 1).unwrap_err();
        assert!(
            refused.contains(&format!("uid {uid} ")) && refused.contains("not the owner"),
            "{refused}"
        );
    }
}
