//! The one nginx.conf both servers run, byte for byte but for their ports:
//! issue 13's setting (`worker_processes 1`, `master_process off`, the
//! `$connection_upgrade` map, upstreams with `keepalive 64`,
//! `proxy_http_version 1.1`, `proxy_read_timeout 1h`), with a location per
//! figure: plain HTTP, WebSocket, the same two behind allow/deny +
//! limit_req + auth_basic, the WebSocket one with upgate's `# upgate:`
//! pragmas (frame-aware tunnels; a plain location to nginx), and two TLS
//! servers (ECDSA, RSA) with a wss location. The 2-worker row runs the same text with `master_process on`
//! and `worker_processes 2`: with the master off nginx runs one process
//! whatever worker_processes says.

use std::path::Path;

use super::backends::Backends;
use super::tls::SNI;

/// `alice:password` as htpasswd -m writes it (`$apr1$`, htpasswd's default).
pub const HTPASSWD: &str = "alice:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.\n";
/// The header that passes [`HTPASSWD`]: `Basic alice:password`.
pub const AUTHORIZATION: &str = "Authorization: Basic YWxpY2U6cGFzc3dvcmQ=";

/// The paths the loads use.
pub const HTTP_PATH: &str = "/http";
pub const WS_PATH: &str = "/ws";
pub const GUARDED_HTTP_PATH: &str = "/guarded/http";
pub const GUARDED_WS_PATH: &str = "/guarded/ws";
/// A WebSocket location with upgate's pragmas (comments to nginx): its
/// tunnels follow frames.
pub const PRAGMA_WS_PATH: &str = "/pragmas/ws";
/// The pragmas of [`PRAGMA_WS_PATH`]: pings after 30 s of silence (never,
/// under load), close frames at a timeout.
const PRAGMAS: &str = "# upgate: websocket_ping 30s; websocket_close_on_timeout;\n";

/// A server's listening ports.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    pub http: u16,
    pub ecdsa: u16,
    pub rsa: u16,
}

impl Listen {
    pub fn all(&self) -> [u16; 3] {
        [self.http, self.ecdsa, self.rsa]
    }
}

/// The configuration text. Paths of the server's own files are relative to
/// its prefix; the certificates and the password file, shared, absolute in
/// `work`. `tunnels` sizes the open-file and connection limits (each tunnel
/// is two sockets in the proxy).
pub fn nginx_conf(
    work: &Path,
    listen: Listen,
    backends: Backends,
    workers: usize,
    tunnels: usize,
) -> String {
    let w = work.display();
    let rlimit = tunnels * 3 + 4096;
    let connections = tunnels * 2 + 1024;
    let master = if workers > 1 { "on" } else { "off" };
    // A limit_req rate no client reaches: the figure is the zone's cost,
    // not its rejections. The password file is read on every request, as
    // nginx does.
    let guard = format!(
        "allow 127.0.0.0/8;\n            deny all;\n\
         \x20           limit_req zone=bench burst=1000 nodelay;\n\
         \x20           auth_basic \"bench\";\n            auth_basic_user_file {w}/htpasswd;\n"
    );
    let http = |path: &str, extra: &str| {
        format!(
            "        location {path} {{\n            {extra}\
             \x20           proxy_pass http://http_backend;\n\
             \x20           proxy_set_header Connection \"\";\n        }}\n"
        )
    };
    let ws = |path: &str, extra: &str| {
        format!(
            "        location {path} {{\n            {extra}\
             \x20           proxy_pass http://ws_backend;\n\
             \x20           proxy_set_header Upgrade $http_upgrade;\n\
             \x20           proxy_set_header Connection $connection_upgrade;\n        }}\n"
        )
    };
    let tls = |port: u16, cert: &str| {
        format!(
            "    server {{\n        listen 127.0.0.1:{port} ssl;\n        server_name {SNI};\n\
             \x20       ssl_protocols TLSv1.2 TLSv1.3;\n\
             \x20       ssl_certificate {w}/{cert}.crt;\n        ssl_certificate_key {w}/{cert}.key;\n\
             {}\x20       location / {{ return 200 \"ok\\n\"; }}\n    }}\n",
            ws(WS_PATH, ""),
        )
    };
    format!(
        "daemon off;\nmaster_process {master};\nworker_processes {workers};\n\
         worker_rlimit_nofile {rlimit};\n\
         pid logs/nginx.pid;\nerror_log logs/error.log error;\n\
         events {{ worker_connections {connections}; }}\n\
         http {{\n    access_log off;\n\
         \x20   # Keepalive connections are never closed for their count: wrk does not\n\
         \x20   # reconnect cheaply, and nginx's default (1000) would make it.\n\
         \x20   keepalive_requests 100000000;\n\
         \x20   client_body_temp_path tmp/body;\n    proxy_temp_path tmp/proxy;\n\
         \x20   fastcgi_temp_path tmp/fastcgi;\n    uwsgi_temp_path tmp/uwsgi;\n\
         \x20   scgi_temp_path tmp/scgi;\n\
         \x20   map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         \x20   limit_req_zone $binary_remote_addr zone=bench:1m rate=1000000r/s;\n\
         \x20   upstream http_backend {{\n        server 127.0.0.1:{http_port};\n\
         \x20       keepalive 64;\n        keepalive_requests 100000000;\n    }}\n\
         \x20   upstream ws_backend {{\n        server 127.0.0.1:{ws_port};\n\
         \x20       keepalive 64;\n    }}\n\
         \x20   proxy_http_version 1.1;\n    proxy_read_timeout 1h;\n\
         \x20   server {{\n        listen 127.0.0.1:{plain};\n{}{}{}{}{}    }}\n{}{}}}\n",
        http(HTTP_PATH, ""),
        ws(WS_PATH, ""),
        http(GUARDED_HTTP_PATH, &guard),
        ws(GUARDED_WS_PATH, &guard),
        ws(PRAGMA_WS_PATH, PRAGMAS),
        tls(listen.ecdsa, "ecdsa"),
        tls(listen.rsa, "rsa"),
        http_port = backends.http,
        ws_port = backends.ws,
        plain = listen.http,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_for_both_but_the_ports() {
        let listen = Listen {
            http: 1001,
            ecdsa: 1002,
            rsa: 1003,
        };
        let backends = Backends {
            http: 2001,
            ws: 2002,
        };
        let conf = nginx_conf(Path::new("/w"), listen, backends, 1, 5000);
        for line in [
            "master_process off;",
            "worker_processes 1;",
            "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
            "keepalive 64;",
            "proxy_http_version 1.1;",
            "proxy_read_timeout 1h;",
            "listen 127.0.0.1:1001;",
            "listen 127.0.0.1:1003 ssl;",
            "server 127.0.0.1:2002;",
            "auth_basic_user_file /w/htpasswd;",
            "worker_connections 11024;",
        ] {
            assert!(conf.contains(line), "{line} in\n{conf}");
        }
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
        let two = nginx_conf(Path::new("/w"), listen, backends, 2, 5000);
        assert!(two.contains("master_process on;\nworker_processes 2;"));
    }
}
