//! `map` blocks (src/http/modules/ngx_http_map_module.c and the stream
//! twin) and the lines of `types {}` (ngx_http_core_type).

use rustc_hash::FxHashSet as HashSet;

use super::{Cx, Semantics};
use crate::ast::Directive;
use crate::context::HandlerBlock;
use crate::error::ConfError;
use crate::load::at_end;

#[derive(Debug, Default)]
pub(super) struct MapState {
    /// The map being read: exact keys seen and whether `default` was given.
    open: Option<OpenMap>,
    /// `map_hash_bucket_size` / `map_hash_max_size` as given (http, stream).
    pub bucket_size: [Option<i64>; 2],
    pub max_size: [Option<i64>; 2],
    /// The values in force, fixed by the first map (`ngx_http_map_block`).
    fixed: [Option<(i64, i64)>; 2],
}

#[derive(Debug, Default)]
struct OpenMap {
    keys: HashSet<Vec<u8>>,
    /// Length of the longest key of the exact hash, with its line's span.
    longest: Option<(usize, crate::span::Span)>,
    default_seen: bool,
    hostnames: bool,
    stream: bool,
}

impl Semantics {
    /// `ngx_http_map_block`: `map SOURCE $VARIABLE { ... }`.
    pub(super) fn map_block(
        &mut self,
        cx: &mut Cx<'_>,
        d: &Directive,
        stream: bool,
    ) -> Result<(), ConfError> {
        let [_source, name] = d.args.as_slice() else {
            return Ok(());
        };
        self.complex_values(cx, d, 0..1)?;
        let Some(var) = name.value.strip_prefix(b"$") else {
            return Err(at_end(d, format!("invalid variable name \"{name}\"")));
        };
        let var = String::from_utf8_lossy(var).into_owned();
        if stream {
            self.stream_vars.define(&var);
        } else {
            self.http_vars.define(&var);
        }
        let which = usize::from(stream);
        if self.map.fixed[which].is_none() {
            // ngx_http_map_block: unset values take their defaults, the
            // bucket size aligned to the cache line (64 on x86-64).
            let bucket = self.map.bucket_size[which].unwrap_or(64);
            let bucket = (bucket + 63) / 64 * 64;
            self.map.fixed[which] = Some((bucket, self.map.max_size[which].unwrap_or(2048)));
        }
        self.map.open = Some(OpenMap {
            stream,
            ..OpenMap::default()
        });
        Ok(())
    }

    /// `map_hash_bucket_size` / `map_hash_max_size`.
    pub(super) fn map_hash_size(&mut self, d: &Directive, stream: bool) {
        let value = d.args.first().and_then(|v| super::values::atoi(&v.value));
        let which = usize::from(stream);
        if d.is("map_hash_bucket_size") {
            self.map.bucket_size[which] = value;
        } else {
            self.map.max_size[which] = value;
        }
    }

    /// After the map's `}`: `ngx_hash_init` of its exact keys (logged
    /// without a file position).
    pub(super) fn finish_map(&mut self, _d: &Directive) -> Result<(), ConfError> {
        let Some(open) = self.map.open.take() else {
            return Ok(());
        };
        let Some((len, span)) = open.longest else {
            return Ok(());
        };
        let Some((bucket, max)) = self.map.fixed[usize::from(open.stream)] else {
            return Ok(());
        };
        let fail = |message: String| {
            Err(ConfError::unplaced(message, Some(span))
                .with_help("raise map_hash_bucket_size (before the first map) in http {}"))
        };
        if max == 0 {
            return fail(format!(
                "could not build map_hash, you should increase map_hash_max_size: {max}"
            ));
        }
        if bucket > 65536 - 64 {
            return fail(format!(
                "could not build map_hash, too large map_hash_bucket_size: {bucket}"
            ));
        }
        // NGX_HASH_ELT_SIZE plus the bucket's end pointer.
        if 8 + (len as i64 + 2 + 7) / 8 * 8 + 8 > bucket {
            return fail(format!(
                "could not build map_hash, you should increase map_hash_bucket_size: {bucket}"
            ));
        }
        Ok(())
    }

    /// `ngx_http_map`: one line of a map block.
    pub(super) fn map_entry(
        &mut self,
        _kind: HandlerBlock,
        d: &Directive,
    ) -> Result<(), ConfError> {
        let mut words = Vec::with_capacity(d.args.len() + 1);
        words.push(&d.name);
        words.extend(d.args.iter());
        let open = self.map.open.get_or_insert_with(OpenMap::default);
        if words.len() == 1 && (d.name.is("hostnames") || d.name.is("volatile")) {
            if d.name.is("hostnames") {
                open.hostnames = true;
            }
            return Ok(());
        }
        if words.len() != 2 {
            return Err(at_end(d, "invalid number of the map parameters".into()));
        }
        let stream = open.stream;
        let (key, value) = (words[0], words[1]);
        if super::script::has_variables(&value.value) {
            self.use_script(value, stream)
                .map_err(|e| super::relocate(e, d))?;
        }
        let Some(open) = self.map.open.as_mut() else {
            return Ok(());
        };
        if key.is("default") {
            if open.default_seen {
                return Err(at_end(d, "duplicate default map parameter".into()));
            }
            open.default_seen = true;
            return Ok(());
        }
        if key.value.first() == Some(&b'~') {
            let regex = key.value[1..]
                .strip_prefix(b"*")
                .unwrap_or(&key.value[1..])
                .to_vec();
            self.define_named_captures(&regex);
            return Ok(());
        }
        let exact = key
            .value
            .strip_prefix(b"\\")
            .unwrap_or(&key.value)
            .to_ascii_lowercase();
        if open.hostnames {
            // ngx_hash_add_key's NGX_HASH_WILDCARD_KEY forms: `*.x`, `.x`,
            // `x.*`; more than one `*`, `..` or a `*` elsewhere is declined.
            let stars = exact.iter().filter(|&&b| b == b'*').count();
            let len = exact.len();
            let form = (len > 1 && exact[0] == b'.')
                || (len > 2 && (exact.starts_with(b"*.") || exact.ends_with(b".*")));
            if stars > 1 || exact.windows(2).any(|w| w == b"..") || (stars == 1 && !form) {
                return Err(at_end(
                    d,
                    format!("invalid hostname or wildcard \"{}\"", key.text()),
                ));
            }
        }
        // What ngx_hash_init sees: the exact key, and for wildcards each
        // label (ngx_hash_wildcard_init hashes them level by level).
        let mut hashed = Vec::new();
        if open.hostnames && (exact.starts_with(b"*.") || exact.ends_with(b".*")) {
            let inner = exact
                .strip_prefix(b"*.")
                .or_else(|| exact.strip_suffix(b".*"))
                .unwrap_or(&exact);
            hashed.extend(inner.split(|&b| b == b'.').map(<[u8]>::len));
        } else if open.hostnames && exact.len() > 1 && exact[0] == b'.' {
            // Its exact twin only guards against conflicts (`keys_hash`),
            // it is not in the hash built.
            hashed.extend(exact[1..].split(|&b| b == b'.').map(<[u8]>::len));
        } else {
            hashed.push(exact.len());
        }
        if let Some(len) = hashed.into_iter().max()
            && open.longest.is_none_or(|(l, _)| len > l)
        {
            open.longest = Some((len, d.head_span()));
        }
        // ngx_hash_add_key: with `hostnames`, `.x` is both the exact `x`
        // and the head wildcard `*.x`; `x.*` is a tail wildcard.
        let entries: Vec<Vec<u8>> = if !open.hostnames {
            vec![exact.clone()]
        } else if let Some(rest) = exact.strip_prefix(b".") {
            vec![rest.to_vec(), [b"*.", rest].concat()]
        } else {
            vec![exact.clone()]
        };
        let conflict = entries.iter().any(|e| open.keys.contains(e));
        if conflict {
            return Err(at_end(
                d,
                format!(
                    "conflicting parameter \"{}\"",
                    String::from_utf8_lossy(&exact)
                ),
            ));
        }
        open.keys.extend(entries);
        Ok(())
    }
}
