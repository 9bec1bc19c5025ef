//! `access-rule-unreachable` (warning): an `allow` or `deny` that can never
//! match, because an earlier line of the same list matches every client it
//! would: after `deny all` (or `allow all`) nothing matches, after
//! `allow 10.0.0.0/8` a `deny 10.1.0.0/16` never does. nginx takes the
//! first rule that matches, in per-family lists where `all` stands in every
//! one (`ngx_http_access_handler` in ngx_http_access_module.c), so
//! `deny unix:` after `allow all` is unreachable too, while `deny ::1`
//! after `allow 0.0.0.0/0` is not. Only lines of one block compete: a
//! level with any rule does not inherit its parent's. No fix: which order
//! was meant is the author's call.

use crate::address;
use crate::rule::Severity;
use crate::rules::realip_missing::rule_text;
use crate::{Cx, Finding};

pub const ID: &str = "access-rule-unreachable";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for scope in &cx.scopes.all {
        let parsed: Vec<_> = scope
            .access
            .iter()
            .filter_map(|&d| Some((d, address::access_target(d)?)))
            .collect();
        for (i, &(later, target)) in parsed.iter().enumerate() {
            let Some(&(first, _)) = parsed[..i]
                .iter()
                .find(|(_, t)| address::covers(*t, target))
            else {
                continue;
            };
            let effect = match (first.name == later.name, first.is("deny")) {
                (true, _) => "the line is redundant",
                (false, true) => "those clients are denied instead",
                (false, false) => "those clients are allowed instead",
            };
            out.push(
                Finding::new(
                    ID,
                    Severity::Warning,
                    later.head_span(),
                    format!(
                        "`{}` can never match: `{}` at {} comes first and matches every client it would (nginx takes the first matching rule): {effect}",
                        rule_text(later),
                        rule_text(first),
                        cx.place(first.head_span())
                    ),
                )
                .related(first.head_span(), "matches first")
                .help("put the narrower rules before the broader ones, e.g. `allow 10.0.0.0/8;` before `deny all;`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::{assert_says, findings_of};

    fn conf(rules: &str) -> String {
        format!(
            "events {{}}\nhttp {{\n    server {{\n        listen 8080;\n        location / {{\n{rules}            return 204;\n        }}\n    }}\n}}\n"
        )
    }

    #[test]
    fn rules_after_all_or_a_wider_cidr() {
        let text =
            conf("            deny all;\n            allow 10.0.0.1;\n            allow unix:;\n");
        let found = findings_of(&text, super::ID);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), vec![7, 8]);
        assert_says(&found[0].1, "`deny all` at");
        let text = conf(
            "            allow 10.0.0.0/8;\n            deny 10.1.0.0/16;\n            deny all;\n",
        );
        assert_eq!(findings_of(&text, super::ID).len(), 1);
    }

    #[test]
    fn other_families_and_narrow_first_are_fine() {
        let text = conf(
            "            allow 127.0.0.1;\n            deny 0.0.0.0/0;\n            allow ::1;\n            deny unix:;\n            deny all;\n",
        );
        assert!(findings_of(&text, super::ID).is_empty());
    }
}
