//! TCP probe: a connection established.

use async_trait::async_trait;

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

#[async_trait]
impl Probe for TcpProbe {
    async fn observe(&self) -> Outcome {
        match tokio::net::TcpStream::connect(&self.address).await {
            Ok(_) => Outcome::pass(),
            Err(e) => Outcome::fail(format!("connect to {} failed: {e}", self.address)),
        }
    }
}
