//! Which variables exist: nginx's built-in ones (the `ngx_http_variable_t`
//! tables of the modules in the reference build), its prefix variables, and
//! those a configuration defines (`set`, `map`, `geo`, `split_clients`,
//! named regex captures). A use of any other name fails like
//! `ngx_http_variables_init_vars`: `unknown "name" variable`.

use rustc_hash::FxHashSet as HashSet;

use crate::span::Span;

/// upgate's own http variables: `upgate -t` knows them, nginx does not
/// (`nginx -t` fails with `unknown "NAME" variable`; the linter says so).
pub const UPGATE_VARIABLES: &[&str] = &[
    // Why a WebSocket tunnel ended, in its access log line.
    "upgate_tunnel_close",
];

/// http variables of the modules compiled into the reference build
/// (nginx 1.28 sources; ngx_http_variables.c and the modules' tables).
pub const HTTP_VARIABLES: &[&str] = &[
    // ngx_http_variables.c
    "http_host",
    "http_user_agent",
    "http_referer",
    "http_via",
    "http_x_forwarded_for",
    "http_cookie",
    "content_length",
    "content_type",
    "host",
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "server_protocol",
    "scheme",
    "https",
    "request_uri",
    "uri",
    "document_uri",
    "request",
    "document_root",
    "realpath_root",
    "query_string",
    "args",
    "is_args",
    "request_filename",
    "server_name",
    "request_method",
    "remote_user",
    "bytes_sent",
    "body_bytes_sent",
    "pipe",
    "request_completion",
    "request_body",
    "request_body_file",
    "request_length",
    "request_time",
    "request_id",
    "status",
    "sent_http_content_type",
    "sent_http_content_length",
    "sent_http_location",
    "sent_http_last_modified",
    "sent_http_connection",
    "sent_http_keep_alive",
    "sent_http_transfer_encoding",
    "sent_http_cache_control",
    "sent_http_link",
    "limit_rate",
    "connection",
    "connection_requests",
    "connection_time",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "tcpinfo_snd_cwnd",
    "tcpinfo_rcv_space",
    // ngx_http_upstream.c
    "upstream_addr",
    "upstream_status",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_time",
    "upstream_response_length",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upstream_cache_status",
    "upstream_cache_last_modified",
    "upstream_cache_etag",
    // modules
    "msie",
    "modern_browser",
    "ancient_browser",
    "fastcgi_script_name",
    "fastcgi_path_info",
    "grpc_internal_trailers",
    "limit_conn_status",
    "limit_req_status",
    "proxy_host",
    "proxy_port",
    "proxy_add_x_forwarded_for",
    "proxy_add_via",
    "proxy_internal_body_length",
    "proxy_internal_chunked",
    "realip_remote_addr",
    "realip_remote_port",
    "date_local",
    "date_gmt",
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_early_data",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "connections_active",
    "connections_reading",
    "connections_writing",
    "connections_waiting",
    "http2",
    "gzip_ratio",
    "invalid_referer",
    "secure_link",
    "secure_link_expires",
    "uid_got",
    "uid_set",
    "uid_reset",
    "slice_range",
];

/// Prefix variables (`$http_NAME`, `$arg_NAME`, ...).
pub const HTTP_PREFIXES: &[&str] = &[
    "http_",
    "sent_http_",
    "sent_trailer_",
    "cookie_",
    "arg_",
    "upstream_http_",
    "upstream_trailer_",
    "upstream_cookie_",
    "proxy_protocol_tlv_",
];

/// stream variables (ngx_stream_variables.c and the stream modules).
pub const STREAM_VARIABLES: &[&str] = &[
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "server_name",
    "bytes_sent",
    "bytes_received",
    "session_time",
    "status",
    "connection",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "protocol",
    "limit_conn_status",
    "realip_remote_addr",
    "realip_remote_port",
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "ssl_preread_protocol",
    "ssl_preread_server_name",
    "ssl_preread_alpn_protocols",
    "upstream_addr",
    "upstream_bytes_sent",
    "upstream_connect_time",
    "upstream_first_byte_time",
    "upstream_session_time",
    "upstream_bytes_received",
];

pub const STREAM_PREFIXES: &[&str] = &["proxy_protocol_tlv_"];

/// The variables of one of nginx's two variable spaces (http or stream):
/// what is defined and what is used, in the order nginx registers uses
/// (`cmcf->variables`).
#[derive(Debug, Default)]
pub struct Registry {
    defined: HashSet<String>,
    used: Vec<(String, Span)>,
    used_names: HashSet<String>,
}

impl Registry {
    /// Declares a variable (`set $x`, `map ... $x`, a named capture).
    pub fn define(&mut self, name: &str) {
        self.defined.insert(name.to_ascii_lowercase());
    }

    /// Registers a use (`ngx_http_get_variable_index`).
    pub fn use_var(&mut self, name: &str, span: Span) {
        // Most names are used many times and already lowercase: look them
        // up before allocating.
        if !name.bytes().any(|b| b.is_ascii_uppercase()) && self.used_names.contains(name) {
            return;
        }
        let name = name.to_ascii_lowercase();
        if self.used_names.insert(name.clone()) {
            self.used.push((name, span));
        }
    }

    /// The first used variable nothing defines, as nginx finds it.
    pub fn first_unknown(&self, builtin: &[&[&str]], prefixes: &[&str]) -> Option<&(String, Span)> {
        self.used.iter().find(|(name, _)| {
            !self.defined.contains(name)
                && !builtin.iter().any(|list| list.contains(&name.as_str()))
                && !prefixes.iter().any(|p| name.starts_with(p))
        })
    }
}
