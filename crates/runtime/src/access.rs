//! The access module (src/http/modules/ngx_http_access_module.c): `allow`
//! and `deny` rules, the first that matches the client address deciding,
//! in the access phase (after the rewrite phase, so a `return` answers
//! first). A level with any rule has its own list; one without takes its
//! parent's whole list (`ngx_http_access_merge_loc_conf`).
//!
//! nginx keeps three lists, one per address family, and puts `all` in each:
//! an IPv4 client is judged by the IPv4 rules, an IPv6 client by the IPv6
//! rules (an IPv4-mapped one by the IPv4 rules when there are any), a
//! unix-socket client by the `unix:` rules. One ordered list filtered by
//! family gives the same first match.

use std::net::IpAddr;

use upgate_conf::Directive;

use crate::error::CompileError;
use crate::realip::{Cidr, parse_cidr};

/// One `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub deny: bool,
    pub what: Target,
}

/// What a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `all`: every client, whatever its family.
    All,
    /// An address or CIDR (a `unix:` rule is `Cidr::Unix`).
    Cidr(Cidr),
}

/// Parses one `allow`/`deny` line (`ngx_http_access_rule`). The second
/// value is nginx's warning for a CIDR with host bits set.
pub fn parse(d: &Directive) -> Result<(Rule, Option<String>), CompileError> {
    let deny = d.is("deny");
    let Some(arg) = d.args.first() else {
        return Err(CompileError::invalid(d, "invalid number of arguments"));
    };
    let text = arg.text();
    let what = match text.as_ref() {
        "all" => Target::All,
        "unix:" => Target::Cidr(Cidr::Unix),
        t => match parse_cidr(t) {
            Some((cidr, low_bits)) => {
                let warning = low_bits.then(|| format!("low address bits of {t} are meaningless"));
                return Ok((
                    Rule {
                        deny,
                        what: Target::Cidr(cidr),
                    },
                    warning,
                ));
            }
            None => {
                return Err(CompileError::at(arg, format!("invalid parameter \"{t}\"")));
            }
        },
    };
    Ok((Rule { deny, what }, None))
}

/// `ngx_http_access_handler`: the first rule that matches `client`
/// (`None` for the client: a unix socket): whether it denies (`None`: no
/// rule matched, the handler declines and the client may go in).
pub fn find(rules: &[Rule], client: Option<IpAddr>) -> Option<bool> {
    let v4_list = |r: &&Rule| matches!(r.what, Target::All | Target::Cidr(Cidr::V4 { .. }));
    let v6_list = |r: &&Rule| matches!(r.what, Target::All | Target::Cidr(Cidr::V6 { .. }));
    match client {
        Some(IpAddr::V4(v4)) => first(rules.iter().filter(v4_list), Some(IpAddr::V4(v4))),
        Some(IpAddr::V6(v6)) => {
            // An IPv4-mapped address is judged by the IPv4 rules when there
            // are any, else by the IPv6 rules as it is.
            if let Some(v4) = v6.to_ipv4_mapped()
                && rules.iter().any(|r| v4_list(&r))
            {
                return first(rules.iter().filter(v4_list), Some(IpAddr::V4(v4)));
            }
            first(rules.iter().filter(v6_list), Some(IpAddr::V6(v6)))
        }
        None => first(
            rules
                .iter()
                .filter(|r| matches!(r.what, Target::All | Target::Cidr(Cidr::Unix))),
            None,
        ),
    }
}

/// The first rule of `list` matching `ip`: whether it denies.
fn first<'r>(mut list: impl Iterator<Item = &'r Rule>, ip: Option<IpAddr>) -> Option<bool> {
    list.find(|r| match (r.what, ip) {
        (Target::All, _) => true,
        (Target::Cidr(cidr), Some(ip)) => cidr.contains(ip),
        (Target::Cidr(cidr), None) => cidr == Cidr::Unix,
    })
    .map(|r| r.deny)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn rules(list: &[(&str, &str)]) -> Vec<Rule> {
        list.iter()
            .map(|(verb, arg)| {
                let what = match *arg {
                    "all" => Target::All,
                    "unix:" => Target::Cidr(Cidr::Unix),
                    t => Target::Cidr(parse_cidr(t).unwrap().0),
                };
                Rule {
                    deny: *verb == "deny",
                    what,
                }
            })
            .collect()
    }

    fn denies(rules: &[Rule], client: Option<IpAddr>) -> bool {
        find(rules, client) == Some(true)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn first_match_wins() {
        let r = rules(&[
            ("allow", "10.0.0.0/8"),
            ("deny", "10.1.0.0/16"),
            ("deny", "all"),
        ]);
        assert!(!denies(&r, ip("10.1.2.3")));
        assert!(denies(&r, ip("192.168.0.1")));
        assert!(denies(&r, ip("::1")));
        assert!(!denies(&[], ip("1.2.3.4")));
    }

    #[test]
    fn families_as_nginx_keeps_three_lists() {
        let r = rules(&[("deny", "127.0.0.1"), ("deny", "::1"), ("deny", "unix:")]);
        assert!(denies(&r, ip("127.0.0.1")));
        // An IPv4-mapped client is judged by the IPv4 rules.
        assert!(denies(&r, ip("::ffff:127.0.0.1")));
        assert!(denies(&r, ip("::1")));
        assert!(!denies(&r, ip("127.0.0.2")));
        assert!(denies(&r, None));
        let only_v6 = rules(&[("deny", "::/0")]);
        assert!(!denies(&only_v6, ip("10.0.0.1")));
        // No IPv4 rules: the mapped address is judged as IPv6.
        assert!(denies(&only_v6, ip("::ffff:10.0.0.1")));
        assert!(denies(&only_v6, ip("2001:db8::1")));
    }
}
