//! What a PROXY protocol header told about the connection (nginx's
//! `ngx_proxy_protocol_t`, src/core/ngx_proxy_protocol.h): the addresses
//! as text and the ports, read by the engine before anything else on a
//! `listen ... proxy_protocol` connection (upgate-proxy's `proxy_protocol`
//! parses the bytes). It feeds `$proxy_protocol_addr`,
//! `$proxy_protocol_port`, `$proxy_protocol_server_addr`,
//! `$proxy_protocol_server_port` (ngx_http_variables.c) and
//! `real_ip_header proxy_protocol` (ngx_http_realip_module.c). A header
//! that names no addresses (v1 `UNKNOWN`, v2 `LOCAL`, another family) sets
//! none: the variables are empty and realip does nothing.

/// The addresses of one PROXY protocol header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyProtocol {
    /// The source address as text: v1's as sent, v2's as `ngx_sock_ntop`
    /// writes it.
    pub src_addr: Vec<u8>,
    pub dst_addr: Vec<u8>,
    pub src_port: u16,
    pub dst_port: u16,
}

impl ProxyProtocol {
    /// The value of `$proxy_protocol_*` variable `name`; a port of 0 is
    /// empty (`ngx_http_variable_proxy_protocol_port`).
    pub fn variable(&self, name: &str) -> Option<Vec<u8>> {
        let port = |p: u16| {
            if p == 0 {
                Vec::new()
            } else {
                p.to_string().into_bytes()
            }
        };
        Some(match name {
            "proxy_protocol_addr" => self.src_addr.clone(),
            "proxy_protocol_port" => port(self.src_port),
            "proxy_protocol_server_addr" => self.dst_addr.clone(),
            "proxy_protocol_server_port" => port(self.dst_port),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables() {
        let pp = ProxyProtocol {
            src_addr: b"192.0.2.1".to_vec(),
            dst_addr: b"192.0.2.2".to_vec(),
            src_port: 1234,
            dst_port: 0,
        };
        assert_eq!(
            pp.variable("proxy_protocol_addr"),
            Some(b"192.0.2.1".to_vec())
        );
        assert_eq!(pp.variable("proxy_protocol_port"), Some(b"1234".to_vec()));
        assert_eq!(
            pp.variable("proxy_protocol_server_addr"),
            Some(b"192.0.2.2".to_vec())
        );
        assert_eq!(pp.variable("proxy_protocol_server_port"), Some(Vec::new()));
        assert_eq!(pp.variable("proxy_protocol_tlv_alpn"), None);
    }
}
