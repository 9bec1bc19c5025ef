//! The value checks nginx's directive handlers make while reading a
//! configuration (`cmd->set`, the `ngx_conf_set_*_slot` helpers, and the
//! post-parse steps of `ngx_http_block`), with the state they keep across
//! the walk.
//!
//! One file per area of nginx (core, http core, rewrite, proxy, upstream,
//! log, map); each adds `impl Semantics` methods named for the directive and
//! names the nginx function it reproduces. Only what `nginx -t` reports is
//! checked; anything nginx accepts is accepted.

mod core;
mod geo;
mod http_core;
mod listen_url;
mod log;
mod map;
mod misc;
mod proxy;
pub mod regex;
mod rewrite;
pub mod script;
mod slots;
mod upstream;
pub mod values;
pub mod variables;
mod zones;

use std::path::{Path, PathBuf};

use crate::ast::{Directive, Word};
use crate::context::{BlockKind, HandlerBlock};
use crate::directives::{DirectiveSpec, ModuleType};
use crate::error::ConfError;
use crate::fs::Fs;
use crate::load::{Config, LoadOptions};
use crate::span::SourceMap;

/// What a handler sees besides the directive: nginx's `cf`.
pub(crate) struct Cx<'a> {
    pub spec: &'static DirectiveSpec,
    pub context: BlockKind,
    pub warnings: &'a mut Vec<ConfError>,
    /// The files read so far (for messages that name another directive's
    /// file and line).
    pub sources: &'a SourceMap,
}

/// State the handlers keep while nginx reads the configuration.
#[derive(Debug, Default)]
pub struct Semantics {
    conf_prefix: PathBuf,
    /// nginx's prefix (`-p`), where `*_cache_path` and other paths start.
    prefix: PathBuf,
    check_environment: bool,
    check_hosts: bool,
    fs: Fs,
    /// One entry per open block: the slot fields already set in it.
    blocks: Vec<slots::BlockSlots>,
    http_vars: variables::Registry,
    stream_vars: variables::Registry,
    log: log::LogState,
    upstream: upstream::UpstreamState,
    http: http_core::HttpState,
    map: map::MapState,
    core: core::CoreState,
    zones: zones::ZoneState,
    geo: geo::GeoState,
    /// Values nginx compiles when it merges locations (after the whole http
    /// block is read), by module: registered then, in module order.
    merge_time_values: Vec<(u16, Word)>,
    /// The `charset_map` being read converts to UTF-8.
    charset_to_utf8: bool,
    /// Warnings a block's end printed before it failed (nginx has logged
    /// them by then).
    carried_warnings: Vec<ConfError>,
    regexes: regex::RegexChecks,
}

impl Semantics {
    pub fn new(options: &LoadOptions) -> Self {
        Semantics {
            check_environment: options.check_environment,
            check_hosts: options.check_environment || options.check_hosts,
            prefix: options.prefix.clone(),
            fs: options.fs.clone(),
            blocks: vec![slots::BlockSlots::new(BlockKind::Main)],
            ..Semantics::default()
        }
    }

    pub fn set_conf_prefix(&mut self, prefix: PathBuf) {
        self.conf_prefix = prefix;
    }

    /// Where relative `include` paths start: the main file's directory.
    pub fn conf_prefix(&self) -> &Path {
        &self.conf_prefix
    }

    /// Handler blocks whose handler treats `include` as a directive.
    pub fn handler_block_allows_include(&self, kind: HandlerBlock) -> bool {
        matches!(
            kind,
            HandlerBlock::Types
                | HandlerBlock::Map
                | HandlerBlock::Geo
                | HandlerBlock::StreamMap
                | HandlerBlock::StreamGeo
        )
    }

    /// A line inside a handler block (`map`, `types`, ...): nginx's
    /// `cf->handler`.
    pub fn handler_line(
        &mut self,
        kind: HandlerBlock,
        d: &Directive,
        _sources: &SourceMap,
    ) -> Result<Vec<ConfError>, ConfError> {
        if d.block.is_some() {
            return Err(ConfError::emerg(
                "unexpected \"{\"",
                d.head_span(),
                d.end_line,
            ));
        }
        match kind {
            HandlerBlock::Map | HandlerBlock::StreamMap => {
                self.map_entry(kind, d).map(|()| Vec::new())
            }
            // `ngx_http_core_type` takes `TYPE EXT...;`, even with no EXT.
            HandlerBlock::Types => Ok(Vec::new()),
            HandlerBlock::CharsetMap => self
                .charset_map_entry(d, self.charset_to_utf8)
                .map(|()| Vec::new()),
            HandlerBlock::Geo | HandlerBlock::StreamGeo => self.geo_entry(kind, d),
            _ => Ok(Vec::new()),
        }
    }

    /// A directive that passed the table checks (`cmd->set`); returns the
    /// warnings nginx would print.
    pub fn directive(
        &mut self,
        spec: &'static DirectiveSpec,
        d: &Directive,
        context: BlockKind,
        sources: &SourceMap,
    ) -> Result<Vec<ConfError>, ConfError> {
        let mut warnings = Vec::new();
        let mut cx = Cx {
            spec,
            context,
            warnings: &mut warnings,
            sources,
        };
        self.slot(&mut cx, d)?;
        match spec.module().module_type {
            ModuleType::Core | ModuleType::Event | ModuleType::Conf => {
                self.core_directive(&mut cx, d)?
            }
            ModuleType::Http => self.http_directive(&mut cx, d)?,
            ModuleType::Stream => self.stream_directive(&mut cx, d)?,
            ModuleType::Mail => {
                if d.is("ssl_session_cache") {
                    self.ssl_session_cache(d, spec.module)?;
                }
            }
        }
        if d.block.is_some() {
            self.push_block(BlockKind::opened_by(context, &d.name.value));
        }
        Ok(warnings)
    }

    fn http_directive(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        if let Some(result) = self.zone_directive(cx, d) {
            return result;
        }
        match d.name.value.as_slice() {
            b"listen" => self.listen(cx, d),
            b"server_name" => self.server_name(cx, d),
            b"server" if cx.context == BlockKind::Http => self.server_block(cx, d),
            b"location" => self.location(cx, d),
            b"root" | b"alias" => self.root(cx, d),
            b"set" => self.set(cx, d),
            b"if" => self.if_block(cx, d),
            b"return" => self.return_(cx, d),
            b"rewrite" => self.rewrite(cx, d),
            b"proxy_pass" => self.proxy_pass(cx, d),
            b"fastcgi_pass" | b"uwsgi_pass" | b"scgi_pass" | b"grpc_pass" | b"memcached_pass" => {
                self.pass_url(cx, d).map(|_| ())
            }
            b"proxy_set_header" => self.proxy_set_header(cx, d),
            b"upstream" => self.upstream_block(cx, d),
            b"server" => self.upstream_server(cx, d),
            b"keepalive" | b"hash" | b"ip_hash" | b"least_conn" | b"random" => self.balancer(cx, d),
            b"log_format" => self.log_format(d, false),
            b"access_log" => self.access_log(cx, d),
            b"map" => self.map_block(cx, d, false),
            b"add_header" => self.complex_values(cx, d, 1..),
            b"fastcgi_param" | b"uwsgi_param" | b"scgi_param" => self.upstream_param(cx, d),
            b"grpc_set_header" => self.merge_time_values(cx, d, 1, 2),
            b"error_page" => self.error_page(cx, d),
            b"keepalive_timeout" => self.keepalive_timeout(d),
            b"map_hash_bucket_size" | b"map_hash_max_size" => {
                self.map_hash_size(d, false);
                Ok(())
            }
            b"server_names_hash_bucket_size" | b"server_names_hash_max_size" => {
                self.server_names_hash(d);
                self.complex_value_directive(cx, d)
            }
            b"ssl_session_cache" => self.ssl_session_cache(d, cx.spec.module),
            b"proxy_redirect" => self.proxy_redirect(cx, d),
            b"ssl_certificate" | b"ssl_certificate_key" | b"ssl_reject_handshake" => {
                self.ssl_certificate(cx, d)
            }
            b"charset_map" => {
                self.charset_to_utf8 = d
                    .args
                    .get(1)
                    .is_some_and(|dst| dst.value.eq_ignore_ascii_case(b"utf-8"));
                Ok(())
            }
            // Directives that declare a variable (`ngx_http_geo_block`,
            // `ngx_http_split_clients`, `ngx_http_auth_request_set`).
            b"geo" | b"split_clients" | b"auth_request_set" => self.declare_variable(cx, d, false),
            _ => self.complex_value_directive(cx, d),
        }
    }

    /// `geo [$src] $var {}`, `split_clients $src $var {}`,
    /// `auth_request_set $var value`: the variable exists from here on; the
    /// source (or the value) is compiled.
    fn declare_variable(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
        stream: bool,
    ) -> Result<(), ConfError> {
        let (var, compiled) = match d.name.value.as_slice() {
            b"geo" if d.args.len() == 1 => (d.args.first(), None),
            b"geo" | b"split_clients" => (d.args.get(1), d.args.first()),
            _ => (d.args.first(), d.args.get(1)),
        };
        if d.is("geo") {
            self.geo_block_start();
        }
        if let Some(var) = var {
            let name = String::from_utf8_lossy(var.value.strip_prefix(b"$").unwrap_or(&var.value))
                .into_owned();
            if stream {
                self.stream_vars.define(&name);
            } else {
                self.http_vars.define(&name);
            }
        }
        let _ = cx;
        match compiled {
            Some(word) => self.use_script(word, stream).map_err(|e| relocate(e, d)),
            None => Ok(()),
        }
    }

    fn stream_directive(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        if let Some(result) = self.zone_directive(cx, d) {
            return result;
        }
        match d.name.value.as_slice() {
            b"map" => self.map_block(cx, d, true),
            b"map_hash_bucket_size" | b"map_hash_max_size" => {
                self.map_hash_size(d, true);
                Ok(())
            }
            b"geo" | b"split_clients" => self.declare_variable(cx, d, true),
            b"log_format" => self.log_format(d, true),
            b"ssl_session_cache" => self.ssl_session_cache(d, cx.spec.module),
            b"set" => {
                if let Some(name) = d.args.first() {
                    let var = name.text();
                    self.stream_vars.define(var.trim_start_matches('$'));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// After a block's closing `}`.
    pub fn leave_block(
        &mut self,
        kind: BlockKind,
        d: &Directive,
        config: &Config,
    ) -> Result<Vec<ConfError>, ConfError> {
        self.blocks.pop();
        let mut warnings = Vec::new();
        match kind {
            BlockKind::Http => {
                if let Err(e) = self.finish_http(d, config, &mut warnings) {
                    self.carried_warnings.append(&mut warnings);
                    return Err(e);
                }
            }
            BlockKind::Stream => self.finish_stream(d)?,
            BlockKind::Server => self.finish_server(d)?,
            BlockKind::Location => self.finish_location(),
            BlockKind::Upstream => self.finish_upstream(d)?,
            BlockKind::Handler(HandlerBlock::Map | HandlerBlock::StreamMap) => {
                self.finish_map(d)?
            }
            _ => {}
        }
        Ok(warnings)
    }

    /// `ngx_http_block` after `ngx_conf_parse`: upstream init, merges,
    /// location trees, variables, server names. Errors are reported at the
    /// line of http's closing `}` where nginx gives a line at all.
    fn finish_http(
        &mut self,
        http: &Directive,
        _config: &Config,
        warnings: &mut Vec<ConfError>,
    ) -> Result<(), ConfError> {
        let close = http
            .block
            .as_ref()
            .and_then(|b| b.close)
            .unwrap_or(http.name.span);
        self.init_upstreams(close)?;
        let mut merged = std::mem::take(&mut self.merge_time_values);
        merged.sort_by_key(|(module, _)| *module);
        for (_, word) in &merged {
            self.use_script(word, false)?;
        }
        self.check_certificate_keys()?;
        self.check_cache_zones(close)?;
        self.check_locations()?;
        self.check_ssl_certificates()?;
        if let Some((name, span)) = self.http_vars.first_unknown(
            &[variables::HTTP_VARIABLES, variables::UPGATE_VARIABLES],
            variables::HTTP_PREFIXES,
        ) {
            return Err(
                ConfError::unplaced(format!("unknown \"{name}\" variable"), Some(*span))
                    .with_help(unknown_variable_help(name)),
            );
        }
        self.check_server_names(warnings)
    }

    fn finish_stream(&mut self, _stream: &Directive) -> Result<(), ConfError> {
        if let Some((name, span)) = self
            .stream_vars
            .first_unknown(&[variables::STREAM_VARIABLES], variables::STREAM_PREFIXES)
        {
            return Err(ConfError::unplaced(
                format!("unknown \"{name}\" variable"),
                Some(*span),
            ));
        }
        Ok(())
    }

    /// Warnings printed before the error that stopped the load.
    pub fn take_carried_warnings(&mut self) -> Vec<ConfError> {
        std::mem::take(&mut self.carried_warnings)
    }

    /// After the whole configuration was read (cycle initialisation).
    pub fn finish_main(&mut self, _config: &Config) -> Result<Vec<ConfError>, ConfError> {
        self.init_core()?;
        self.check_zone_sizes()?;
        Ok(Vec::new())
    }

    /// Registers the variables of a value nginx compiles as a script.
    fn use_script(&mut self, word: &Word, stream: bool) -> Result<(), ConfError> {
        if !script::has_variables(&word.value) {
            return Ok(());
        }
        let registry = if stream {
            &mut self.stream_vars
        } else {
            &mut self.http_vars
        };
        script::visit(&word.value, |part| {
            if let script::ScriptRef::Variable { name, .. } = part {
                registry.use_var(&String::from_utf8_lossy(name), word.span);
            }
        })
        .map_err(|message| ConfError::emerg(message, word.span, word.span.line))
    }

    /// Compiles the arguments in `range` as scripts.
    fn complex_values(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
        range: impl std::ops::RangeBounds<usize>,
    ) -> Result<(), ConfError> {
        let stream = cx.spec.module().module_type == ModuleType::Stream;
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        for word in d.args.get(bounds).unwrap_or(&[]) {
            self.use_script(word, stream).map_err(|e| relocate(e, d))?;
        }
        Ok(())
    }

    /// Values compiled by a module's merge function (`proxy_set_header`,
    /// `fastcgi_param`, ...): their variables are registered after parsing.
    fn merge_time_values(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
        from: usize,
        to: usize,
    ) -> Result<(), ConfError> {
        for word in d.args.iter().take(to).skip(from) {
            if script::has_variables(&word.value) {
                script::compile(&word.value)
                    .map_err(|message| ConfError::emerg(message, word.span, d.end_line))?;
                self.merge_time_values.push((cx.spec.module, word.clone()));
            }
        }
        Ok(())
    }

    /// Directives whose arguments nginx compiles as complex values.
    fn complex_value_directive(&mut self, cx: &mut Cx<'_>, d: &Directive) -> Result<(), ConfError> {
        let from = match d.name.value.as_slice() {
            b"proxy_redirect"
            | b"try_files"
            | b"index"
            | b"auth_basic"
            | b"auth_basic_user_file"
            | b"limit_rate"
            | b"limit_rate_after"
            | b"sub_filter"
            | b"proxy_cookie_domain"
            | b"proxy_cookie_path"
            | b"proxy_ssl_name"
            | b"proxy_no_cache"
            | b"proxy_cache_bypass"
            | b"proxy_cache_key"
            | b"add_trailer"
            | b"expires"
            | b"fastcgi_cache_key"
            | b"proxy_set_body"
            | b"proxy_method"
            | b"secure_link"
            | b"secure_link_md5"
            | b"proxy_bind"
            | b"proxy_store"
            | b"error_page"
            | b"internal_redirect" => 0,
            _ => return Ok(()),
        };
        let from = match d.name.value.as_slice() {
            // The first argument of these is a pattern or a code list.
            b"sub_filter" | b"add_trailer" => from + 1,
            _ => from,
        };
        self.complex_values(cx, d, from..)
    }
}

/// A script error inside a directive is reported at the directive's line.
fn relocate(mut e: ConfError, d: &Directive) -> ConfError {
    if let crate::error::Position::File { line, .. } = &mut e.position {
        *line = d.end_line;
    }
    e
}

fn unknown_variable_help(name: &str) -> String {
    if name == "connection_upgrade" {
        "$connection_upgrade is not built in: add to http {}\n    map $http_upgrade $connection_upgrade {\n        default upgrade;\n        ''      close;\n    }".into()
    } else {
        format!("no module defines ${name}, and no set, map, geo or regex capture declares it")
    }
}
