//! What nginx's request processing does with a TLS connection
//! (src/http/ngx_http_request.c), as pure rules: the server the SNI name
//! chose is the request's server until the Host header says otherwise
//! (`hc->conf_ctx`), a Host that differs from the SNI name is refused with
//! 421 when the server it picks verifies client certificates
//! (`ngx_http_set_virtual_server`), a plain HTTP request on a TLS port is
//! 497, and a client certificate the server's `ssl_verify_client` does not
//! accept is 495 or 496 (`ngx_http_process_request`). The handshake itself
//! is the engine's.

use serde::Serialize;

use crate::server::ServerId;

/// `ssl_verify_client` (a server-level setting, inherited from http).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyClient {
    #[default]
    Off,
    On,
    Optional,
    OptionalNoCa,
}

impl VerifyClient {
    /// The directive's argument; `None` for anything else.
    pub fn parse(arg: &[u8]) -> Option<VerifyClient> {
        Some(match arg.to_ascii_lowercase().as_slice() {
            b"off" => VerifyClient::Off,
            b"on" => VerifyClient::On,
            b"optional" => VerifyClient::Optional,
            b"optional_no_ca" => VerifyClient::OptionalNoCa,
            _ => return None,
        })
    }
}

/// The client certificate of a connection, as the engine verified it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientCert {
    /// None was sent.
    #[default]
    None,
    /// It verified against the server's CAs.
    Verified,
    /// It did not; `optional` when the error is one `optional_no_ca` lets
    /// through (`ngx_ssl_verify_error_optional`: an unknown or self-signed
    /// issuer).
    Failed { optional: bool },
}

/// What the TLS layer learnt of a connection.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// `hc->ssl_servername`: the SNI name, validated and lower-cased, when
    /// it selected a server by name.
    pub server_name: Option<Vec<u8>>,
    /// The server that name selected.
    pub sni_server: Option<ServerId>,
    pub client_cert: ClientCert,
}

/// The status nginx finalizes a request with before its phases, for the
/// request's server (chosen by Host) verifying client certificates with
/// `verify`: 495 "The SSL certificate error", 496 "No required SSL
/// certificate was sent".
pub fn verify_status(verify: VerifyClient, cert: ClientCert) -> Option<(u16, &'static str)> {
    match (verify, cert) {
        (VerifyClient::Off, _) => None,
        (VerifyClient::OptionalNoCa, ClientCert::Failed { optional: true }) => None,
        (_, ClientCert::Failed { .. }) => Some((495, "client SSL certificate verify error")),
        (VerifyClient::On, ClientCert::None) => {
            Some((496, "client sent no required SSL certificate"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_as_ngx_http_process_request() {
        use ClientCert::*;
        use VerifyClient::*;
        assert_eq!(verify_status(Off, Failed { optional: false }), Option::None);
        assert_eq!(verify_status(On, None).map(|s| s.0), Some(496));
        assert_eq!(verify_status(Optional, None), Option::None);
        assert_eq!(
            verify_status(Optional, Failed { optional: true }).map(|s| s.0),
            Some(495)
        );
        assert_eq!(
            verify_status(OptionalNoCa, Failed { optional: true }),
            Option::None
        );
        assert_eq!(
            verify_status(OptionalNoCa, Failed { optional: false }).map(|s| s.0),
            Some(495)
        );
        assert_eq!(verify_status(On, Verified), Option::None);
    }
}
