//! Why an `upstream {}` block does not compile, in the words nginx uses for
//! the same mistake (`ngx_http_upstream_server`, `ngx_parse_url`, the
//! balancer and keepalive directive handlers, `ngx_http_upstream_init_round_robin`).

use upgate_conf::{ConfError, Span};

/// An `upstream {}` block or server address that nginx would refuse.
/// `Display` gives nginx's message; [`UpstreamError::span`] says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The directive given to `from_block` is not `upstream NAME { ... }`.
    #[error("\"{found}\" is not an upstream block")]
    NotAnUpstream { found: String, span: Span },
    /// `weight=0`, `max_fails=x`, an unknown parameter, `hash $k other`...
    #[error("invalid parameter \"{param}\"")]
    InvalidParameter { param: String, span: Span },
    /// `backup` after `hash`, `ip_hash` or `random`.
    #[error("balancing method does not support parameter \"{param}\"")]
    NotSupported { param: String, span: Span },
    /// `keepalive 0` or `keepalive x`.
    #[error("invalid value \"{value}\" in \"{directive}\" directive")]
    InvalidValue {
        directive: String,
        value: String,
        span: Span,
    },
    /// What nginx's slot handlers return: "is duplicate" (a second
    /// `keepalive` or `keepalive_*`), "invalid number", "invalid value".
    #[error("\"{directive}\" directive {reason}")]
    Directive {
        directive: String,
        reason: &'static str,
        span: Span,
    },
    /// A directive with too few arguments (the conf crate reports these first).
    #[error("invalid number of arguments in \"{directive}\" directive")]
    Arguments { directive: String, span: Span },
    /// `ngx_parse_url`'s errors: "invalid host", "invalid port", "no host",
    /// "invalid IPv6 address", "no path in the unix domain socket"...
    #[error("{reason} in upstream \"{address}\"")]
    Address {
        reason: &'static str,
        address: String,
        span: Span,
    },
    /// The resolver returned no address for a server's host name.
    #[error("host not found in upstream \"{address}\"")]
    HostNotFound { address: String, span: Span },
    /// The block has no `server` at all.
    #[error("no servers are inside upstream")]
    NoServers { span: Span },
    /// Every server is `backup` (checked when nginx initialises the group).
    #[error("no servers in upstream \"{name}\"")]
    NoPrimaryServers { name: String, span: Span },
}

impl UpstreamError {
    /// The text to underline.
    pub fn span(&self) -> Span {
        match self {
            UpstreamError::NotAnUpstream { span, .. }
            | UpstreamError::InvalidParameter { span, .. }
            | UpstreamError::NotSupported { span, .. }
            | UpstreamError::InvalidValue { span, .. }
            | UpstreamError::Directive { span, .. }
            | UpstreamError::Arguments { span, .. }
            | UpstreamError::Address { span, .. }
            | UpstreamError::HostNotFound { span, .. }
            | UpstreamError::NoServers { span }
            | UpstreamError::NoPrimaryServers { span, .. } => *span,
        }
    }

    /// The same error as the conf crate's diagnostic (level emerg), for
    /// rendering next to `nginx -t`'s messages.
    pub fn to_conf_error(&self) -> ConfError {
        let span = self.span();
        ConfError::emerg(self.to_string(), span, span.line)
    }
}
