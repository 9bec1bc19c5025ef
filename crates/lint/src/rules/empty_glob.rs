//! `include-glob-matches-nothing` (warning): an absolute glob include
//! (`include /etc/nginx/conf.d/*.conf;`) that matches no file where the
//! linter runs, while the same pattern matches files beside the
//! configuration. nginx accepts a glob that matches nothing, so `nginx -t`
//! says nothing; but the linter then reads none of the sites the server
//! would read, and a report without findings would mean nothing. The
//! help names the `--root` that reads them. The findings those files may
//! contradict are marked (see [`crate::unseen`]).

use crate::rule::Severity;
use crate::unseen::beside;
use crate::{Cx, Finding};

pub const ID: &str = "include-glob-matches-nothing";

pub fn check(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for glob in &cx.loaded.empty_globs {
        let Some(found) = beside(cx, glob) else {
            continue;
        };
        let files = if found.files == 1 {
            "1 file".to_string()
        } else {
            format!("{} files", found.files)
        };
        out.push(
            Finding::new(
                ID,
                Severity::Warning,
                glob.span,
                format!(
                    "`include {}` matches no file here (nginx accepts that silently), but {} beside the configuration {} the same pattern; none of them was linted",
                    glob.path.display(),
                    files,
                    if found.files == 1 { "matches" } else { "match" },
                ),
            )
            .help(format!(
                "lint with `--root {}` to read {} from there",
                found.root,
                found.here.display()
            )),
        );
    }
}
