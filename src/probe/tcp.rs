//! TCP probe: a connection established.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Outcome, Probe, ProbeError};

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

/// Connects to the first address of `authority` that answers, within `timeout`.
pub(super) fn connect(
    authority: &str,
    known: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let deadline = std::time::Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = match known {
        Some(a) => vec![a],
        None => authority
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {authority}: {e}"))?
            .collect(),
    };
    let mut last = format!("{authority} resolves to no address");
    for addr in addrs {
        let left = super::remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("connection to {authority} failed: {e}"),
        }
    }
    Err(last)
}

impl Probe for TcpProbe {
    fn observe(&self, timeout: Duration) -> Outcome {
        match connect(&self.address, None, timeout) {
            Ok(_) => Outcome::pass(),
            Err(e) => Outcome::fail(e),
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
}
