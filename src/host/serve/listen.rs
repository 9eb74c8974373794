//! Where `serve` listens: a loopback TCP address, a Unix socket, or (only when asked for with
//! `--listen-public`) any other address.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::exit::CliError;

/// The address of `serve --listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `127.0.0.1:PORT`, `[::1]:PORT` (port 0: one the system picks), or with
    /// `--listen-public` any IP address.
    Tcp(SocketAddr),
    /// `unix:PATH`: a socket created owner-only (0600).
    Unix(PathBuf),
}

impl Listen {
    /// Parses `--listen ADDR`, refusing an address other than loopback unless `public`.
    pub fn parse(text: &str, public: bool) -> Result<Self, CliError> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(CliError::Usage(
                    "--listen unix:PATH: the socket's path is missing".into(),
                ));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        let address: SocketAddr = text.parse().map_err(|_| {
            CliError::Usage(format!(
                "--listen {text:?}: expected IP:PORT (127.0.0.1:8080, [::1]:8080) or unix:PATH"
            ))
        })?;
        if !address.ip().is_loopback() && !public {
            return Err(CliError::Usage(format!(
                "--listen {address}: not a loopback address; the API trusts its caller (the application's server), so give --listen-public to serve it beyond this machine"
            )));
        }
        Ok(Listen::Tcp(address))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(address) => write!(f, "http://{address}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_sockets_are_accepted_other_addresses_only_when_public() {
        assert_eq!(
            Listen::parse("127.0.0.1:0", false).unwrap(),
            Listen::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            Listen::parse("[::1]:8080", false).unwrap().to_string(),
            "http://[::1]:8080"
        );
        assert_eq!(
            Listen::parse("unix:/run/s.sock", false).unwrap(),
            Listen::Unix("/run/s.sock".into())
        );
        for public in ["0.0.0.0:8080", "192.0.2.1:80", "[::]:8080"] {
            let refused = Listen::parse(public, false).unwrap_err().to_string();
            assert!(refused.contains("--listen-public"), "{refused}");
            assert!(Listen::parse(public, true).is_ok());
        }
        for bad in ["localhost:8080", "127.0.0.1", "unix:", ""] {
            assert!(
                matches!(Listen::parse(bad, true), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }
}
