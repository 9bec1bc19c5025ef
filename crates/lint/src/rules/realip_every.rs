//! `realip-trusts-every-address` (warning): `set_real_ip_from 0.0.0.0/0`
//! (or `::/0`, or any `ADDRESS/0`) trusts every connection to say who the
//! client is: the realip module takes `$remote_addr` from the
//! `real_ip_header` of any request (ngx_http_realip_module.c), so anyone can
//! forge their address, get past `allow`/`deny` lists, escape `limit_req` /
//! `limit_conn` buckets and write any address into the logs. The message
//! names the address rules and limits that then judge a forged address,
//! where the list is in force. nginx rejects `0/0` and `all` there ("host
//! not found in set_real_ip_from"), which nginx-config-error reports. No
//! fix: only the author knows the proxy's addresses.

use crate::address;
use crate::rule::Severity;
use crate::rules::realip_missing::rule_text;
use crate::{Cx, Finding};

pub const ID: &str = "realip-trusts-every-address";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for (owner, scope) in cx.scopes.all.iter().enumerate() {
        for &d in &scope.set_real_ip_from {
            if !address::trusts_every_address(d) {
                continue;
            }
            let header = scope
                .in_force
                .real_ip_header
                .and_then(|h| h.arg(0))
                .map_or("X-Real-IP".into(), |h| h.text());
            let from = if header == "proxy_protocol" {
                "the PROXY protocol header of any connection".to_string()
            } else {
                format!("the {header} header of any request")
            };
            let mut f = Finding::new(ID, Severity::Warning, d.head_span(), String::new());
            let mut judged = Vec::new();
            let under = (owner..cx.scopes.all.len())
                .filter(|&s| cx.scopes.get(s).in_force.set_real_ip_from == Some(owner));
            for s in under {
                let rule = address::address_rule(&cx.scopes, s);
                let limits = address::address_limits(&cx.scopes, &cx.model, s).map(|(l, _)| l);
                for l in rule.into_iter().chain(limits) {
                    if !f.related.iter().any(|r| r.span == l.head_span()) {
                        judged.push(format!("`{}` at {}", rule_text(l), cx.place(l.head_span())));
                        f = f.related(l.head_span(), "judges a forged address");
                    }
                }
            }
            let then = if judged.is_empty() {
                String::new()
            } else {
                let verb = if judged.len() == 1 { "judges" } else { "judge" };
                format!(
                    "; {} then {verb} an address the client chose",
                    judged.join(", ")
                )
            };
            f.message = format!(
                "`{}` trusts every connection: the client address is taken from {from}, so anyone can forge it{then}",
                rule_text(d)
            );
            out.push(f.help("list only the addresses of your proxies or load balancers, e.g. `set_real_ip_from 10.0.0.0/8;`"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::{assert_says, findings_of};

    fn conf(http: &str, server: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n{http}    server {{\n        listen 8080;\n{server}        location / {{\n            proxy_pass http://127.0.0.1:9000;\n        }}\n    }}\n}}\n"
        )
    }

    #[test]
    fn zero_prefixes_fire_and_name_what_they_expose() {
        let http = "    set_real_ip_from 0.0.0.0/0;\n    set_real_ip_from ::/0;\n    real_ip_header X-Forwarded-For;\n";
        let found = findings_of(
            &conf(http, "        allow 10.0.0.0/8;\n        deny all;\n"),
            super::ID,
        );
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![3, 4]);
        assert_says(&found[0].1, "X-Forwarded-For header");
        assert_says(&found[0].1, "`allow 10.0.0.0/8` at");
        let alone = findings_of(
            &conf("", "        set_real_ip_from 1.2.3.4/0;\n"),
            super::ID,
        );
        assert_eq!(alone.len(), 1);
        assert_says(&alone[0].1, "so anyone can forge it");
        assert!(!alone[0].1.contains(" then "), "{}", alone[0].1);
    }

    #[test]
    fn narrow_lists_are_fine() {
        let http = "    set_real_ip_from 10.0.0.0/8;\n    set_real_ip_from 2001:db8::/32;\n    set_real_ip_from unix:;\n";
        assert!(findings_of(&conf(http, ""), super::ID).is_empty());
    }
}
