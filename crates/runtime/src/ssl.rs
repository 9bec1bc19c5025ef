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
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_support::http_runtime;
    use crate::{ClientRequest, ClientVersion, Header, Outcome};

    /// Two TLS servers on one address; `b.test` verifies client
    /// certificates.
    const SERVERS: &str = "server { listen 8443 ssl; server_name a.test; location / { return 200 a; } }\n\
        server { listen 8443 ssl; server_name b.test; ssl_verify_client on; location / { return 200 b; } }";

    fn answer(host: Option<&str>, tls: &ClientTls, plain: bool) -> (u16, Vec<u8>) {
        let rt = http_runtime(SERVERS);
        let client: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let local: std::net::SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let mut c = ClientRequest::new(b"GET", b"/", client, local);
        if let Some(h) = host {
            c.headers = vec![Header {
                name: b"Host",
                value: h.as_bytes(),
            }];
        } else {
            c.version = ClientVersion::Http10;
        }
        c.ssl = !plain;
        c.tls = (!plain).then_some(tls);
        c.plain_on_tls = plain;
        let r = rt.process(&c);
        match &r.outcome {
            Outcome::Respond(resp) => (resp.status, resp.body.clone()),
            other => panic!("{other:?}"),
        }
    }

    fn sni(rt_server: u32, name: &str, cert: ClientCert) -> ClientTls {
        ClientTls {
            server_name: Some(name.as_bytes().to_vec()),
            sni_server: Some(ServerId(rt_server)),
            client_cert: cert,
        }
    }

    #[test]
    fn sni_then_host_as_ngx_http_set_virtual_server() {
        let to_a = sni(0, "a.test", ClientCert::None);
        let to_b = sni(1, "b.test", ClientCert::Verified);
        // No Host: the server the SNI name chose.
        assert_eq!(answer(None, &to_b, false), (200, b"b".to_vec()));
        // Host picks the server; 421 only when that server verifies.
        assert_eq!(answer(Some("a.test"), &to_b, false), (200, b"a".to_vec()));
        assert_eq!(answer(Some("b.test"), &to_a, false).0, 421);
        // A Host no server has keeps the SNI server (the default server,
        // not verifying, is only asked whether to answer 421).
        assert_eq!(answer(Some("c.test"), &to_b, false), (200, b"b".to_vec()));
        // The verifying server without a certificate: 496; a failed one: 495.
        let bare = sni(1, "b.test", ClientCert::None);
        assert_eq!(answer(Some("b.test"), &bare, false).0, 496);
        let bad = sni(1, "b.test", ClientCert::Failed { optional: true });
        assert_eq!(answer(Some("b.test"), &bad, false).0, 495);
        // A plain request to the TLS address.
        assert_eq!(answer(Some("a.test"), &ClientTls::default(), true).0, 497);
    }

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
