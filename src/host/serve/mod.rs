//! `sessionctl serve`: holds the store and serves the application API ([`api`]) over HTTP on
//! a loopback address or a Unix socket ([`listen`]), until SIGINT or SIGTERM; then finishes
//! the requests under way and closes the store cleanly, as [`Registry::close`] does.

pub mod api;
pub mod listen;
pub mod token;

use std::io::Write;
use std::path::Path;

use axum::serve::ListenerExt;

use crate::exit::CliError;
use crate::host::attach;
use crate::registry::{Actor, Registry};
pub use listen::Listen;

/// Serves the API on `listen` with `registry` (opened for writing by the caller) until SIGINT
/// or SIGTERM; on a sled store (in `dir`), other sessionctl processes attach meanwhile. Prints
/// one line saying where it listens (with the port the system chose for port 0), then closes
/// the store cleanly.
pub fn run(
    registry: Registry,
    location: String,
    dir: Option<&Path>,
    listen: &Listen,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the server's runtime: {error}"))?;
    let api = api::Api {
        registry: registry.view(Actor::current("api"), false),
        location,
        local: dir.is_some(),
    };
    // Consoles, `-e` and `run` on the same sled store attach (each with its own view).
    let holder = dir.and_then(|dir| attach::hold(&registry, dir, "serve"));
    let served = runtime.block_on(serve(api::router(api), listen));
    // Every handle on the store is dropped before the files are sealed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    if let Some(holder) = holder {
        holder.stop();
    }
    let closed = registry.close();
    served?;
    closed.map_err(CliError::from)
}

async fn serve(router: axum::Router, listen: &Listen) -> Result<(), CliError> {
    let cannot = |error: std::io::Error| anyhow::anyhow!("cannot listen on {listen}: {error}");
    match listen {
        Listen::Tcp(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(cannot)?;
            let bound = Listen::Tcp(listener.local_addr().map_err(cannot)?);
            announce(&bound)?;
            let listener = listener.tap_io(|stream| {
                // Answers leave at once (a small write is not held back waiting for an ACK).
                let _ = stream.set_nodelay(true);
            });
            axum::serve(listener, router)
                .with_graceful_shutdown(stop_signal())
                .await
                .map_err(cannot)?;
        }
        Listen::Unix(path) => {
            let listener = bind_socket(path).map_err(cannot)?;
            announce(listen)?;
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stop_signal())
                .await;
            let _ = std::fs::remove_file(path);
            served.map_err(cannot)?;
        }
    }
    Ok(())
}

/// Binds the Unix socket at `path`, owner-only (0600: bound in a private directory beside it,
/// then renamed into place, so it is never reachable with wider permissions). A socket left by
/// a server that died (nothing answers on it) is replaced; one that answers, or any other
/// file, is refused.
fn bind_socket(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        let stale = metadata.file_type().is_socket()
            && std::os::unix::net::UnixStream::connect(path).is_err();
        if !stale {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "the path exists (a server is answering there, or it is not a socket)",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let private = tempfile::Builder::new()
        .prefix(".sessionctl-serve-")
        .tempdir_in(parent)?;
    let staged = private.path().join("socket");
    let listener = tokio::net::UnixListener::bind(&staged)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&staged, path)?;
    Ok(listener)
}

/// The one line saying where the server listens, flushed at once (tests read it).
fn announce(listen: &Listen) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "sessionctl serve: listening on {listen}")
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

/// Resolves at the first SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No signal handler: the server runs until it is killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}
