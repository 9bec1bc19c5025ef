//! `-v`, `-V` and `-h`: what nginx's `ngx_show_version_info` (src/core/nginx.c)
//! prints, said honestly for upgate. The `configure arguments:` line is
//! derived from [`HTTP_MODULES`], the one list of which nginx http modules
//! upgate provides; nginx-tests' `Test::Nginx::has_module` reads it to skip
//! the files whose modules are absent.

/// The nginx release whose semantics upgate follows (DESIGN.md: 1.28 stable).
pub const NGINX_COMPAT: &str = "1.28.3";

/// How nginx builds a module: in by default (`--without-X` removes it) or
/// only on request (`--with-X` adds it), as in nginx's auto/options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    Default,
    OptIn,
}

/// nginx's http modules (auto/options) and whether upgate enforces them.
/// **Flip `provided` here when a module is implemented**: `-V` follows.
/// `(configure name, how nginx builds it, upgate provides it)`.
pub const HTTP_MODULES: &[(&str, Build, bool)] = &[
    // In nginx's default build.
    ("http_charset_module", Build::Default, false),
    ("http_gzip_module", Build::Default, false),
    ("http_ssi_module", Build::Default, false),
    ("http_userid_module", Build::Default, false),
    ("http_access_module", Build::Default, true),
    ("http_auth_basic_module", Build::Default, true),
    ("http_mirror_module", Build::Default, false),
    ("http_autoindex_module", Build::Default, false),
    ("http_geo_module", Build::Default, false),
    ("http_map_module", Build::Default, true),
    ("http_split_clients_module", Build::Default, false),
    ("http_referer_module", Build::Default, true),
    ("http_rewrite_module", Build::Default, true),
    ("http_proxy_module", Build::Default, true),
    ("http_fastcgi_module", Build::Default, false),
    ("http_uwsgi_module", Build::Default, false),
    ("http_scgi_module", Build::Default, false),
    ("http_grpc_module", Build::Default, false),
    ("http_memcached_module", Build::Default, false),
    ("http_limit_conn_module", Build::Default, true),
    ("http_limit_req_module", Build::Default, true),
    ("http_empty_gif_module", Build::Default, false),
    ("http_browser_module", Build::Default, false),
    ("http_upstream_hash_module", Build::Default, true),
    ("http_upstream_ip_hash_module", Build::Default, true),
    ("http_upstream_least_conn_module", Build::Default, true),
    ("http_upstream_random_module", Build::Default, true),
    ("http_upstream_keepalive_module", Build::Default, true),
    ("http_upstream_zone_module", Build::Default, false),
    // nginx's cache (`--without-http-cache`): proxy_cache is not served.
    ("http-cache", Build::Default, false),
    // Opt-in modules.
    ("http_ssl_module", Build::OptIn, true),
    ("http_v2_module", Build::OptIn, false),
    ("http_realip_module", Build::OptIn, true),
    ("http_addition_module", Build::OptIn, false),
    ("http_sub_module", Build::OptIn, false),
    ("http_dav_module", Build::OptIn, false),
    ("http_flv_module", Build::OptIn, false),
    ("http_mp4_module", Build::OptIn, false),
    ("http_gunzip_module", Build::OptIn, false),
    ("http_gzip_static_module", Build::OptIn, false),
    ("http_auth_request_module", Build::OptIn, true),
    ("http_random_index_module", Build::OptIn, false),
    ("http_secure_link_module", Build::OptIn, false),
    ("http_slice_module", Build::OptIn, false),
    ("http_stub_status_module", Build::OptIn, true),
];

/// TLS listeners are served (then `-V` says `TLS SNI support enabled`).
pub const TLS_SERVED: bool = true;

/// `nginx version: nginx/1.28.3 (upgate/0.1.0)`.
pub fn version_line() -> String {
    format!(
        "nginx version: nginx/{NGINX_COMPAT} (upgate/{})",
        env!("CARGO_PKG_VERSION")
    )
}

/// The `configure arguments:` line: the paths of Debian's build, then a
/// `--with-X` for each opt-in module upgate provides and a `--without-X`
/// for each default module it does not.
pub fn configure_arguments() -> String {
    let mut line = String::from(
        "configure arguments: --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf \
         --error-log-path=stderr --pid-path=/run/nginx.pid",
    );
    for (name, build, provided) in HTTP_MODULES {
        match (build, provided) {
            (Build::OptIn, true) => line.push_str(&format!(" --with-{name}")),
            (Build::Default, false) => line.push_str(&format!(" --without-{name}")),
            _ => {}
        }
    }
    line
}

/// What `-v` (`long` false) or `-V` print, on stderr.
pub fn text(long: bool, help: bool) -> String {
    let mut out = version_line();
    out.push('\n');
    if help {
        out.push_str(HELP);
    }
    if long {
        if TLS_SERVED {
            // nginx-tests reads "with OpenSSL X.Y.Z" to know which TLS
            // features to expect: rustls has those of OpenSSL 3.0 that
            // upgate serves.
            out.push_str(
                "built with rustls 0.23 in place of OpenSSL, compatible with OpenSSL 3.0.0\n",
            );
            out.push_str("TLS SNI support enabled\n");
        }
        out.push_str(&configure_arguments());
        out.push('\n');
    }
    out
}

const HELP: &str = "\
Usage: upgate [-?hvVtTq] [-s signal] [-p prefix]
              [-e filename] [-c filename] [-g directives]
       upgate parse|fmt|lint|route ...   (upgate's own tools; --help on each)

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: the current directory)
  -e filename   : set error log file (default: stderr)
  -c filename   : set configuration file (default: /etc/nginx/nginx.conf)
  -g directives : set global directives out of configuration file

upgate's additions to -t:
  FILE                : the configuration file, as with -c
  --root DIR          : read absolute paths under DIR, as if it were /
  --root /PATH=DIR    : read /PATH (e.g. /etc/nginx) from DIR
  --with-main MAIN    : check FILE (a snippet) where MAIN would include it
  --context BLOCK     : read FILE as a snippet of main, http, server,
                        location or stream
  --nginx-version V   : judge directives as nginx V's table does (which
                        exist, where, with how many arguments): 1.22, 1.24,
                        1.26 or 1.28, or a release of those (1.26.2).
                        Default: what any of those releases accepts

upgate's additions to serving:
  --metrics ADDR:PORT : serve live metrics (OpenMetrics, for Prometheus) at
                        http://ADDR:PORT/metrics; `upgate top ADDR:PORT`
                        shows them

";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_nginx_reads_the_modules() {
        let line = configure_arguments();
        assert!(line.contains(" --without-http_gzip_module"));
        assert!(!line.contains("http_access_module"));
        assert!(line.contains(" --without-http-cache"));
        assert!(!line.contains("http_map_module"));
        assert!(!line.contains("http_proxy_module"));
        assert!(!line.contains("least_conn"));
        assert!(line.contains(" --with-http_realip_module"));
        assert!(line.contains(" --with-http_ssl_module"));
        assert!(!line.contains("http_auth_basic_module"));
        assert!(!line.contains("http_limit_req_module"));
        assert!(line.contains(" --with-http_auth_request_module"));
        assert!(version_line().starts_with("nginx version: nginx/1.28.3 (upgate/"));
        assert!(text(true, false).contains("TLS SNI support enabled"));
    }
}
