//! TCP probe: a connection established.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Outcome, Probe, ProbeError, TimedOut};

/// Opens and closes one TCP connection per observation.
#[derive(Debug)]
pub struct TcpProbe {
    address: String,
}

impl TcpProbe {
    /// Builds the probe for an already expanded `host:port`.
    pub fn new(name: &str, address: &str) -> Result<Self, ProbeError> {
        let valid = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(ProbeError::Invalid {
                probe: name.to_owned(),
                message: format!("`{address}` is not host:port"),
            });
        }
        Ok(Self {
            address: address.to_owned(),
        })
    }
}

/// Why no TCP connection could be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The host name did not resolve.
    #[error("cannot resolve {authority}")]
    Resolve {
        /// The `host:port` asked for.
        authority: String,
        /// The resolver's answer.
        #[source]
        source: std::io::Error,
    },
    /// The host name resolved to nothing.
    #[error("{0} resolves to no address")]
    NoAddress(String),
    /// The last address tried refused or did not answer.
    #[error("connection to {authority} failed")]
    Failed {
        /// The `host:port` asked for.
        authority: String,
        /// Why the last address failed.
        #[source]
        source: std::io::Error,
    },
    /// The deadline passed before an address could be tried.
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

/// Connects to the first address of `authority` that answers, within `timeout`.
pub(super) fn connect(
    authority: &str,
    known: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let deadline = std::time::Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = match known {
        Some(a) => vec![a],
        None => authority
            .to_socket_addrs()
            .map_err(|source| ConnectError::Resolve {
                authority: authority.to_owned(),
                source,
            })?
            .collect(),
    };
    let mut last = ConnectError::NoAddress(authority.to_owned());
    for addr in addrs {
        let left = super::remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(source) => {
                last = ConnectError::Failed {
                    authority: authority.to_owned(),
                    source,
                }
            }
        }
    }
    Err(last)
}

impl Probe for TcpProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        match connect(&self.address, None, timeout) {
            Ok(_) => Outcome::pass(),
            Err(e) => Outcome::fail(crate::error::chain(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_or_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let p = TcpProbe::new("t", &addr).unwrap();
        assert!(p.observe(Duration::from_secs(1)).ok);
        drop(l);
        let o = p.observe(Duration::from_secs(1));
        assert!(!o.ok && o.detail.unwrap().contains("failed"));
        assert!(TcpProbe::new("t", "nohost").is_err());
    }

    #[test]
    fn failures_read_as_before_with_their_cause() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = connect(&addr.to_string(), Some(addr), Duration::from_secs(1)).unwrap_err();
        let ConnectError::Failed { source, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            crate::error::chain(&e),
            format!("connection to {addr} failed: {source}")
        );
        let e = connect("x:1", None, Duration::ZERO).unwrap_err();
        assert!(
            matches!(e, ConnectError::TimedOut(_) | ConnectError::Resolve { .. }),
            "{e:?}"
        );
        assert_eq!(
            ConnectError::NoAddress("x:1".into()).to_string(),
            "x:1 resolves to no address"
        );
        assert_eq!(ConnectError::from(TimedOut).to_string(), "timed out");
    }
}
