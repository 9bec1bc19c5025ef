//! What the linter could not see: the files an `include` names that could
//! not be read. A finding about something missing ("no Upgrade header", "no
//! map") may be wrong when a file in scope could not be read, since that
//! file may set it; such findings are marked, and lose their fix (it is no
//! longer certain). An include's scope is the block it stands in, with every
//! block inside it (a file included at the top of nginx.conf: everything).
//! nginx's `mime.types` shadows nothing: it holds one `types {}` block, which
//! no rule reads (it is still reported as not read, nginx -t fails on it).
//!
//! A glob include that matched nothing here (no error, as in nginx) counts
//! as unread too when its pattern matches files beside the configuration:
//! on the server it reads them.
//!
//! And where the files may really be: an absolute include written for the
//! server (`/etc/nginx/snippets/ws.conf`) whose tail exists beside the
//! configuration (`deploy/nginx/snippets/ws.conf`) gets the `--root` that
//! reads it from there.

use std::path::{Component, Path, PathBuf};

use rustc_hash::FxHashMap;
use upgate_conf::{Directive, FileId, Span, UnreadInclude};

use crate::{Cx, Finding};

/// The directives in the scope of an unread include, by file: their head
/// spans (disjoint, sorted) with the includes that shadow them.
pub struct Unseen<'a> {
    /// The includes not read: a missing file, or a glob that matched
    /// nothing here but would on the server.
    unread: Vec<&'a UnreadInclude>,
    heads: FxHashMap<FileId, Vec<(Span, Vec<usize>)>>,
}

impl<'a> Unseen<'a> {
    pub fn build(cx: &Cx<'a>) -> Self {
        let unread: Vec<&UnreadInclude> = cx
            .loaded
            .unread
            .iter()
            .filter(|u| u.path.file_name() != Some("mime.types".as_ref()))
            .chain(
                cx.loaded
                    .empty_globs
                    .iter()
                    .filter(|u| beside(cx, u).is_some()),
            )
            .collect();
        let mut heads: FxHashMap<FileId, Vec<(Span, Vec<usize>)>> = FxHashMap::default();
        if unread.is_empty() {
            return Unseen { unread, heads };
        }
        // The block each unread include stands in: None for the top of the
        // main file.
        let mut scopes: Vec<(Option<*const Directive>, usize)> = Vec::new();
        cx.config.walk(|d, parents| {
            if !d.is("include") {
                return;
            }
            let Some(arg) = d.args.first() else { return };
            for (i, u) in unread.iter().enumerate() {
                if u.span == arg.span {
                    scopes.push((parents.last().map(|p| *p as *const Directive), i));
                }
            }
        });
        cx.config.walk(|d, parents| {
            let own = d as *const Directive;
            let shadows: Vec<usize> = scopes
                .iter()
                .filter(|(scope, _)| match scope {
                    None => true,
                    Some(block) => {
                        std::ptr::eq(*block, own)
                            || parents.iter().any(|p| std::ptr::eq(*p, *block))
                    }
                })
                .map(|&(_, i)| i)
                .collect();
            if !shadows.is_empty() {
                let head = d.head_span();
                heads.entry(head.file).or_default().push((head, shadows));
            }
        });
        for list in heads.values_mut() {
            list.sort_by_key(|(span, _)| span.start);
        }
        Unseen { unread, heads }
    }

    /// The unread includes whose scope holds this place.
    fn shadowing(&self, span: Span) -> &[usize] {
        let Some(list) = self.heads.get(&span.file) else {
            return &[];
        };
        let at = list.partition_point(|(head, _)| head.start <= span.start);
        match at.checked_sub(1).and_then(|i| list.get(i)) {
            Some((head, shadows)) if span.start <= head.end => shadows,
            _ => &[],
        }
    }

    /// Marks the findings an unread file may contradict.
    pub fn mark(&self, findings: &mut [Finding]) {
        if self.heads.is_empty() {
            return;
        }
        for finding in findings.iter_mut().filter(|f| {
            f.rule != crate::rules::nginx_config_error::ID && f.rule != crate::rules::empty_glob::ID
        }) {
            let shadows = self.shadowing(finding.span);
            for &i in shadows.iter().take(3) {
                let Some(u) = self.unread.get(i) else {
                    continue;
                };
                finding.related.push(crate::Related {
                    span: u.span,
                    message: format!(
                        "could not read {}: what it sets may change this finding",
                        u.path.display()
                    ),
                });
            }
            if !shadows.is_empty() {
                finding.fix = None;
            }
        }
    }
}

/// Where an absolute include's file (or glob) is found beside the
/// configuration, and the `--root` that reads it from there.
pub struct Beside {
    /// The file or pattern beside the configuration.
    pub here: PathBuf,
    /// How many files it names there.
    pub files: usize,
    /// The `--root` argument.
    pub root: String,
}

/// For an absolute include not read: where the same file, or files the same
/// glob matches, exist beside the configuration, if they do.
pub fn beside(cx: &Cx<'_>, unread: &UnreadInclude) -> Option<Beside> {
    if !unread.path.is_absolute() || cx.options.root.is_some() {
        return None;
    }
    let dir = cx
        .config
        .sources
        .path(cx.user_main())
        .parent()
        .map(Path::to_path_buf)?;
    // Shown from the current directory when it is under it, as a user
    // would type it.
    let dir = match std::env::current_dir() {
        Ok(cwd) => dir.strip_prefix(&cwd).map(Path::to_path_buf).unwrap_or(dir),
        Err(_) => dir,
    };
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let parts: Vec<Component<'_>> = unread
        .path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let glob = upgate_conf::fs::has_glob(unread.path.as_os_str().as_encoded_bytes());
    let count = |here: &Path| -> usize {
        if glob {
            upgate_conf::fs::Fs::default()
                .glob(here)
                .map_or(0, |found| found.len())
        } else {
            usize::from(here.is_file())
        }
    };
    // The longest tail first: /etc/nginx/snippets/ws.conf is looked for as
    // etc/nginx/snippets/ws.conf, nginx/snippets/ws.conf, snippets/ws.conf
    // beside the configuration (a bare file name is too weak a clue).
    for cut in 0..parts.len().saturating_sub(1) {
        let tail: PathBuf = parts[cut..].iter().collect();
        let here = dir.join(&tail);
        let files = count(&here);
        if files == 0 {
            continue;
        }
        let root = if cut == 0 {
            dir.display().to_string()
        } else {
            let from: PathBuf = std::iter::once(Component::RootDir)
                .chain(parts[..cut].iter().copied())
                .collect();
            format!("{}={}", from.display(), dir.display())
        };
        return Some(Beside { here, files, root });
    }
    None
}

/// For an absolute include that could not be read: the `--root` under
/// which the same file exists beside the configuration, if one does.
pub fn root_hint(cx: &Cx<'_>, unread: &UnreadInclude) -> Option<String> {
    let found = beside(cx, unread)?;
    Some(format!(
        "{} exists beside the configuration: lint with `--root {}` to read it from there",
        found.here.display(),
        found.root
    ))
}
