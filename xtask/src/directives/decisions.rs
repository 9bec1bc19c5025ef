//! Build decisions: which guarded entries and which modules the reference
//! build has, each with its reason.

/// Preprocessor guards met around commands-array entries (and around entries
/// of the `ngx_conf_enum_t`/`ngx_conf_bitmask_t` arrays their `post` points
/// at), and whether the guarded entries belong in the table. Every guard nginx
/// 1.22.1, 1.24.0, 1.26.3 and 1.28.3 use there is defined in the reference
/// build, so all are included. A guard missing from this list is an error: decide, then add it.
pub const GUARDS: &[(&str, bool)] = &[
    // auto/unix finds openat(2) on Linux.
    ("if (NGX_HAVE_OPENAT)", true),
    // HTTP_CACHE=YES unless --without-http-cache.
    ("if (NGX_HTTP_CACHE)", true),
    // The gzip filter is a default module; --with-compat defines it as well.
    ("if (NGX_HTTP_GZIP)", true),
    // --with-http_ssl_module.
    ("if (NGX_HTTP_SSL)", true),
    // The upstream zone module is a default module; --with-compat too.
    ("if (NGX_HTTP_UPSTREAM_ZONE)", true),
    // --with-stream_ssl_module.
    ("if (NGX_STREAM_SSL)", true),
    // The stream upstream zone module is a default module; --with-compat too.
    ("if (NGX_STREAM_UPSTREAM_ZONE)", true),
];

/// A module's presence in the reference build; mirrors `Build` in the
/// directives module of upgate-conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Static,
    Dynamic(&'static str),
    Absent,
}

use Build::{Absent, Dynamic, Static};

/// The `.so` of `--with-mail=dynamic`. auto/modules turns the whole
/// MAIL_MODULES list into one dynamic module, and auto/module names it after
/// the list's first module ("extract the first name"); auto/make then links
/// `objs/<name>.so`.
const MAIL_SO: Build = Dynamic("ngx_mail_module.so");
/// Likewise for `--with-stream=dynamic` and STREAM_MODULES.
const STREAM_SO: Build = Dynamic("ngx_stream_module.so");

/// Build decisions for every module that declares directives, for the
/// reference build: Debian 12's nginx 1.22.1 package, configured with the
/// default modules plus
///
/// ```text
/// --with-compat --with-debug --with-pcre-jit --with-http_ssl_module
/// --with-http_stub_status_module --with-http_realip_module
/// --with-http_auth_request_module --with-http_v2_module --with-http_dav_module
/// --with-http_slice_module --with-threads --with-http_addition_module
/// --with-http_flv_module --with-http_gunzip_module
/// --with-http_gzip_static_module --with-http_mp4_module
/// --with-http_random_index_module --with-http_secure_link_module
/// --with-http_sub_module --with-mail_ssl_module --with-stream_ssl_module
/// --with-stream_ssl_preread_module --with-stream_realip_module
/// --with-http_geoip_module=dynamic --with-http_image_filter_module=dynamic
/// --with-http_perl_module=dynamic --with-http_xslt_module=dynamic
/// --with-mail=dynamic --with-stream=dynamic --with-stream_geoip_module=dynamic
/// ```
///
/// "default" means YES in auto/options (only `--without-*` turns it off),
/// "--with" means NO there. Modules that appeared in nginx after 1.22.1 are
/// Absent: Debian 12's binary does not have them. `build` is per module;
/// per-directive additions and removals (e.g. `http2` in ngx_http_v2_module,
/// 1.25.1, or `ssl` in ngx_http_ssl_module, gone in 1.25.1) are what the
/// entries' `releases` say. Every module with directives in 1.22.1 still has
/// them in each later release of the table, so no module needs a decision per
/// release: the one Debian build decides for all of them (a module newer than
/// 1.22.1, such as ngx_stream_pass_module of 1.25.5, stays Absent for 1.26
/// and 1.28 too, as Debian 12's binary has no such module).
///
/// Modules without directives need no decision and are not in the table; for
/// the record, on Linux auto/os/linux finds epoll and sets EVENT_FOUND=YES, so
/// auto/modules builds neither ngx_select_module nor ngx_poll_module (only
/// `--with-select_module`/`--with-poll_module` would), and ngx_quic_module
/// needs `--with-http_v3_module` (1.25.0+).
pub const BUILD: &[(&str, Build)] = &[
    // Core modules. core/errlog/conf are unconditional (auto/sources).
    ("ngx_core_module", Static),
    ("ngx_errlog_module", Static),
    ("ngx_conf_module", Static),
    // USE_OPENSSL=YES, set by --with-http_ssl_module.
    ("ngx_openssl_module", Static),
    // Added in nginx 1.27.x; not in 1.22.1.
    ("ngx_openssl_cache_module", Absent),
    // USE_OPENSSL_QUIC comes only with --with-http_v3_module (1.25.0+).
    ("ngx_quic_bpf_module", Absent),
    // USE_PCRE=YES: the default rewrite module asks for it.
    ("ngx_regex_module", Static),
    // Event modules: the generic ones plus the Linux notification method.
    ("ngx_events_module", Static),
    ("ngx_event_core_module", Static),
    ("ngx_epoll_module", Static),
    ("ngx_iocp_module", Absent),      // win32 only
    ("ngx_devpoll_module", Absent),   // Solaris only
    ("ngx_kqueue_module", Absent),    // BSD/macOS only
    ("ngx_eventport_module", Absent), // Solaris only
    // --with-threads.
    ("ngx_thread_pool_module", Static),
    // HTTP (HTTP=YES unless --without-http): HTTP_MODULES in auto/modules order.
    ("ngx_http_module", Static),
    ("ngx_http_core_module", Static),
    ("ngx_http_log_module", Static),
    ("ngx_http_upstream_module", Static),
    ("ngx_http_v2_module", Static),          // --with-http_v2_module
    ("ngx_http_v3_module", Absent),          // --with-http_v3_module not given; 1.25.0+
    ("ngx_http_gzip_static_module", Static), // --with
    ("ngx_http_dav_module", Static),         // --with
    ("ngx_http_autoindex_module", Static),
    ("ngx_http_index_module", Static),
    ("ngx_http_random_index_module", Static), // --with
    ("ngx_http_mirror_module", Static),
    ("ngx_http_try_files_module", Static),
    ("ngx_http_auth_request_module", Static), // --with
    ("ngx_http_auth_basic_module", Static),
    ("ngx_http_access_module", Static),
    ("ngx_http_limit_conn_module", Static),
    ("ngx_http_limit_req_module", Static),
    ("ngx_http_realip_module", Static), // --with
    ("ngx_http_geo_module", Static),
    ("ngx_http_geoip_module", Dynamic("ngx_http_geoip_module.so")),
    ("ngx_http_map_module", Static),
    ("ngx_http_split_clients_module", Static),
    ("ngx_http_referer_module", Static),
    ("ngx_http_rewrite_module", Static),
    ("ngx_http_ssl_module", Static), // --with
    ("ngx_http_proxy_module", Static),
    ("ngx_http_fastcgi_module", Static),
    ("ngx_http_uwsgi_module", Static),
    ("ngx_http_scgi_module", Static),
    ("ngx_http_grpc_module", Static), // default, and HTTP_V2=YES as it requires
    ("ngx_http_perl_module", Dynamic("ngx_http_perl_module.so")),
    ("ngx_http_memcached_module", Static),
    ("ngx_http_empty_gif_module", Static),
    ("ngx_http_browser_module", Static),
    ("ngx_http_secure_link_module", Static), // --with
    ("ngx_http_degradation_module", Absent), // --with-http_degradation_module not given
    ("ngx_http_flv_module", Static),         // --with
    ("ngx_http_mp4_module", Static),         // --with
    ("ngx_http_upstream_hash_module", Static),
    ("ngx_http_upstream_ip_hash_module", Static),
    ("ngx_http_upstream_least_conn_module", Static),
    ("ngx_http_upstream_random_module", Static),
    ("ngx_http_upstream_keepalive_module", Static),
    ("ngx_http_upstream_zone_module", Static),
    ("ngx_http_stub_status_module", Static), // --with
    // HTTP_FILTER_MODULES and HTTP_INIT_FILTER_MODULES.
    ("ngx_http_gzip_filter_module", Static),
    ("ngx_http_ssi_filter_module", Static),
    ("ngx_http_charset_filter_module", Static),
    (
        "ngx_http_xslt_filter_module",
        Dynamic("ngx_http_xslt_filter_module.so"),
    ),
    (
        "ngx_http_image_filter_module",
        Dynamic("ngx_http_image_filter_module.so"),
    ),
    ("ngx_http_sub_filter_module", Static),      // --with
    ("ngx_http_addition_filter_module", Static), // --with
    ("ngx_http_gunzip_filter_module", Static),   // --with
    ("ngx_http_userid_filter_module", Static),
    ("ngx_http_headers_filter_module", Static),
    ("ngx_http_copy_filter_module", Static),
    ("ngx_http_slice_filter_module", Static), // --with
    // --with-mail=dynamic: every mail module, core or optional, is in one .so.
    ("ngx_mail_module", MAIL_SO),
    ("ngx_mail_core_module", MAIL_SO),
    ("ngx_mail_ssl_module", MAIL_SO), // --with-mail_ssl_module
    ("ngx_mail_pop3_module", MAIL_SO),
    ("ngx_mail_imap_module", MAIL_SO),
    ("ngx_mail_smtp_module", MAIL_SO),
    ("ngx_mail_auth_http_module", MAIL_SO),
    ("ngx_mail_proxy_module", MAIL_SO),
    ("ngx_mail_realip_module", MAIL_SO),
    // --with-stream=dynamic: likewise one .so for every linked stream module.
    ("ngx_stream_module", STREAM_SO),
    ("ngx_stream_core_module", STREAM_SO),
    ("ngx_stream_log_module", STREAM_SO),
    ("ngx_stream_proxy_module", STREAM_SO),
    ("ngx_stream_upstream_module", STREAM_SO),
    ("ngx_stream_ssl_module", STREAM_SO), // --with-stream_ssl_module
    ("ngx_stream_realip_module", STREAM_SO), // --with-stream_realip_module
    ("ngx_stream_limit_conn_module", STREAM_SO),
    ("ngx_stream_access_module", STREAM_SO),
    ("ngx_stream_geo_module", STREAM_SO),
    // STREAM_GEOIP=DYNAMIC is linked as its own dynamic module.
    (
        "ngx_stream_geoip_module",
        Dynamic("ngx_stream_geoip_module.so"),
    ),
    ("ngx_stream_map_module", STREAM_SO),
    ("ngx_stream_split_clients_module", STREAM_SO),
    ("ngx_stream_return_module", STREAM_SO),
    ("ngx_stream_pass_module", Absent), // added in nginx 1.25.5; not in 1.22.1
    ("ngx_stream_set_module", STREAM_SO),
    ("ngx_stream_upstream_hash_module", STREAM_SO),
    ("ngx_stream_upstream_least_conn_module", STREAM_SO),
    ("ngx_stream_upstream_random_module", STREAM_SO),
    ("ngx_stream_upstream_zone_module", STREAM_SO),
    ("ngx_stream_ssl_preread_module", STREAM_SO), // --with-stream_ssl_preread_module
    // src/misc: --with-google_perftools_module not given.
    ("ngx_google_perftools_module", Absent),
];
