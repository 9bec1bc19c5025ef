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
}

#[derive(Debug, Default)]
struct OpenMap {
    keys: HashSet<Vec<u8>>,
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
        self.map.open = Some(OpenMap {
            stream,
            ..OpenMap::default()
        });
        Ok(())
    }

    pub(super) fn finish_map(&mut self, _d: &Directive) -> Result<(), ConfError> {
        self.map.open = None;
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
        let mut exact = key
            .value
            .strip_prefix(b"\\")
            .unwrap_or(&key.value)
            .to_ascii_lowercase();
        if open.hostnames {
            if exact.last() == Some(&b'.') && !exact.starts_with(b"*") {
                exact.pop();
            }
            let bad_wildcard = (exact.contains(&b'*')
                && !(exact.starts_with(b"*.") || exact.ends_with(b".*")))
                || exact == b"*";
            if bad_wildcard {
                return Err(at_end(
                    d,
                    format!("invalid hostname or wildcard \"{}\"", key.text()),
                ));
            }
        }
        if !open.keys.insert(exact.clone()) {
            return Err(at_end(
                d,
                format!(
                    "conflicting parameter \"{}\"",
                    String::from_utf8_lossy(&exact)
                ),
            ));
        }
        Ok(())
    }
}
