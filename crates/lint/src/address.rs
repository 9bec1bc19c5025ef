//! The client address as the access, limit and realip rules see it:
//! `allow`/`deny` lines parsed as nginx parses them (upgate-runtime's
//! `access::parse`, after `ngx_http_access_rule`), whether one CIDR covers
//! another, what a `limit_req` / `limit_conn` line is keyed on (its zone's
//! key), and which `set_real_ip_from` entries trust every address.
//!
//! Which lists are in force where is [`crate::inherit`]'s job
//! ([`Scopes::access`], [`Scopes::limits`], [`Scopes::set_real_ip_from`]).

use upgate_conf::Directive;
use upgate_runtime::access::{self, Target};
use upgate_runtime::realip::{Cidr, parse_cidr};

use crate::facts::for_each_variable;
use crate::inherit::{ScopeId, Scopes};
use crate::model::Model;

/// One `allow`/`deny` line, `None` when nginx -t would reject it (another
/// rule reports that).
pub fn access_target(d: &Directive) -> Option<Target> {
    access::parse(d).ok().map(|(rule, _)| rule.what)
}

/// True when an `allow`/`deny` line names IP addresses (not `all`, not
/// `unix:`): what a proxy in front changes.
pub fn names_addresses(d: &Directive) -> bool {
    matches!(
        access_target(d),
        Some(Target::Cidr(Cidr::V4 { .. } | Cidr::V6 { .. }))
    )
}

/// True when every client `later` matches is matched by `first` too, in
/// nginx's per-family lists: `all` stands in every list, a CIDR only in its
/// family's.
pub fn covers(first: Target, later: Target) -> bool {
    match (first, later) {
        (Target::All, _) => true,
        (Target::Cidr(_), Target::All) => false,
        (Target::Cidr(a), Target::Cidr(b)) => match (a, b) {
            (Cidr::Unix, Cidr::Unix) => true,
            (Cidr::V4 { addr, mask }, Cidr::V4 { addr: b, mask: m }) => {
                mask & m == mask && b & mask == addr
            }
            (Cidr::V6 { addr, mask }, Cidr::V6 { addr: b, mask: m }) => {
                mask & m == mask && b & mask == addr
            }
            _ => false,
        },
    }
}

/// The first `allow`/`deny` line of the list in force at `s` that names IP
/// addresses.
pub fn address_rule<'a>(scopes: &Scopes<'a>, s: ScopeId) -> Option<&'a Directive> {
    scopes
        .access(s)
        .iter()
        .copied()
        .find(|d| names_addresses(d))
}

/// The zone a `limit_req zone=NAME` or `limit_conn NAME N` line names.
pub fn zone_of<'a>(model: &Model<'a>, limit: &Directive) -> Option<&'a Directive> {
    let name = if limit.is("limit_req") {
        limit
            .args
            .iter()
            .find_map(|a| a.value.strip_prefix(b"zone="))?
    } else {
        limit.arg(0)?.value.as_slice()
    };
    model.limit_zone(name)
}

/// True when a zone's key (its first argument) uses one of `names`.
pub fn key_uses(zone: &Directive, names: &[&str]) -> bool {
    zone.arg(0).is_some_and(|key| uses_any(&key.value, names))
}

/// True when a value uses one of the variables `names` (lowercase, no `$`).
pub fn uses_any(value: &[u8], names: &[&str]) -> bool {
    let mut found = false;
    for_each_variable(value, |n| {
        found |= names.iter().any(|w| n.eq_ignore_ascii_case(w.as_bytes()));
    });
    found
}

/// The variables that hold the connection's address.
pub const REMOTE_ADDR: &[&str] = &["remote_addr", "binary_remote_addr"];

/// The limits in force at `s` keyed on the connection's address, with their zone.
pub fn address_limits<'a, 's>(
    scopes: &'s Scopes<'a>,
    model: &'s Model<'a>,
    s: ScopeId,
) -> impl Iterator<Item = (&'a Directive, &'a Directive)> + 's {
    scopes.limits(s).filter_map(|limit| {
        let zone = zone_of(model, limit)?;
        key_uses(zone, REMOTE_ADDR).then_some((limit, zone))
    })
}

/// True when a `set_real_ip_from` value trusts every address of a family
/// (`0.0.0.0/0`, `::/0`, any `ADDR/0`).
pub fn trusts_every_address(d: &Directive) -> bool {
    d.arg(0).is_some_and(|a| {
        matches!(
            parse_cidr(&a.text()),
            Some((Cidr::V4 { mask: 0, .. } | Cidr::V6 { mask: 0, .. }, _))
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn target(text: &str) -> Target {
        match text {
            "all" => Target::All,
            "unix:" => Target::Cidr(Cidr::Unix),
            t => Target::Cidr(parse_cidr(t).unwrap().0),
        }
    }

    #[test]
    fn coverage_follows_the_family_lists() {
        let c = |a, b| covers(target(a), target(b));
        assert!(c("all", "10.0.0.1"));
        assert!(c("all", "unix:"));
        assert!(c("10.0.0.0/8", "10.1.0.0/16"));
        assert!(c("0.0.0.0/0", "192.168.1.1"));
        assert!(!c("10.1.0.0/16", "10.0.0.0/8"));
        assert!(!c("10.0.0.0/8", "11.0.0.1"));
        assert!(!c("0.0.0.0/0", "::1"));
        assert!(!c("::/0", "unix:"));
        assert!(!c("10.0.0.0/8", "all"));
        assert!(c("2001:db8::/32", "2001:db8:1::/48"));
        assert!(c("unix:", "unix:"));
    }
}
