//! The lines of a `geo` block (src/http/modules/ngx_http_geo_module.c and
//! src/stream/ngx_stream_geo_module.c, `ngx_http_geo`): `ranges` must come
//! first, every entry is a CIDR network or, after `ranges`, an `A-B` range;
//! `default`, `delete`, `proxy` and `proxy_recursive` (http only). The
//! radix tree and the per-/16 range arrays are kept as nginx keeps them, so
//! that its warnings (`duplicate network`, `duplicate range`, `no network
//! ... to delete`) and its `range ... overlaps` error come out alike.

use rustc_hash::FxHashMap as HashMap;
use std::net::Ipv6Addr;

use super::{Semantics, values};
use crate::ast::{Directive, Word};
use crate::context::HandlerBlock;
use crate::error::ConfError;
use crate::load::at_end;

#[derive(Debug, Default)]
pub(super) struct GeoState {
    /// `ranges` was given.
    ranges: bool,
    /// A CIDR entry (or `default`) created the radix trees.
    tree: bool,
    /// The radix trees' nodes with a value: (IPv6, address, mask) -> value.
    networks: HashMap<(bool, u128, u128), Vec<u8>>,
    /// `ranges`: the default value, once set.
    range_default: Option<Vec<u8>>,
    /// `ranges`: per high 16 bits, the sorted (start, end, value) of the low 16.
    low: HashMap<u16, Vec<(u16, u16, Vec<u8>)>>,
}

/// A parsed CIDR network (`ngx_ptocidr`).
struct Cidr {
    v6: bool,
    addr: u128,
    mask: u128,
    /// Bits set below the mask (`NGX_DONE`: "meaningless").
    low_bits: bool,
}

impl Semantics {
    /// `geo [$src] $var {`: a new block starts with empty trees.
    pub(super) fn geo_block_start(&mut self) {
        self.geo = GeoState::default();
    }

    /// `ngx_http_geo` / `ngx_stream_geo`: one line of the block.
    pub(super) fn geo_entry(
        &mut self,
        kind: HandlerBlock,
        d: &Directive,
    ) -> Result<Vec<ConfError>, ConfError> {
        let http = kind == HandlerBlock::Geo;
        let mut warnings = Vec::new();
        let words: Vec<&Word> = std::iter::once(&d.name).chain(&d.args).collect();
        if let [only] = words.as_slice() {
            if only.is("ranges") {
                if self.geo.tree {
                    return Err(at_end(
                        d,
                        "the \"ranges\" directive must be the first directive inside \"geo\" block"
                            .into(),
                    ));
                }
                self.geo.ranges = true;
                return Ok(warnings);
            }
            if http && only.is("proxy_recursive") {
                return Ok(warnings);
            }
        }
        let [first, value] = words.as_slice() else {
            return Err(at_end(d, "invalid number of the geo parameters".into()));
        };
        if http && first.is("proxy") {
            cidr_value(d, value, &mut warnings)?;
            return Ok(warnings);
        }
        if self.geo.ranges {
            self.geo_range(d, first, value, &mut warnings)?;
        } else {
            self.geo_cidr(d, first, value, &mut warnings)?;
        }
        Ok(warnings)
    }

    /// `ngx_http_geo_cidr`.
    fn geo_cidr(
        &mut self,
        d: &Directive,
        first: &Word,
        value: &Word,
        warnings: &mut Vec<ConfError>,
    ) -> Result<(), ConfError> {
        self.geo.tree = true;
        if first.is("default") {
            for v6 in [false, true] {
                self.geo_insert(d, (v6, 0, 0), first, value, warnings);
            }
            return Ok(());
        }
        let (net, delete) = if first.is("delete") {
            (value, true)
        } else {
            (first, false)
        };
        let cidr = cidr_value(d, net, warnings)?;
        let key = (cidr.v6, cidr.addr, cidr.mask);
        if delete {
            if self.geo.networks.remove(&key).is_none() {
                warnings.push(ConfError::warn(
                    format!("no network \"{net}\" to delete"),
                    d.head_span(),
                    d.end_line,
                ));
            }
            return Ok(());
        }
        self.geo_insert(d, key, net, value, warnings);
        Ok(())
    }

    fn geo_insert(
        &mut self,
        d: &Directive,
        key: (bool, u128, u128),
        net: &Word,
        value: &Word,
        warnings: &mut Vec<ConfError>,
    ) {
        if let Some(old) = self.geo.networks.insert(key, value.value.clone()) {
            warnings.push(ConfError::warn(
                format!(
                    "duplicate network \"{net}\", value: \"{value}\", old value: \"{}\"",
                    String::from_utf8_lossy(&old)
                ),
                d.head_span(),
                d.end_line,
            ));
        }
    }

    /// `ngx_http_geo_range`.
    fn geo_range(
        &mut self,
        d: &Directive,
        first: &Word,
        value: &Word,
        warnings: &mut Vec<ConfError>,
    ) -> Result<(), ConfError> {
        if first.is("default") {
            if let Some(old) = self.geo.range_default.replace(value.value.clone()) {
                warnings.push(ConfError::warn(
                    format!(
                        "duplicate default geo range value: \"{value}\", old value: \"{}\"",
                        String::from_utf8_lossy(&old)
                    ),
                    d.head_span(),
                    d.end_line,
                ));
            }
            return Ok(());
        }
        let (net, delete) = if first.is("delete") {
            (value, true)
        } else {
            (first, false)
        };
        let invalid = || at_end(d, format!("invalid range \"{net}\""));
        let v = net.value.as_slice();
        let dash = v.iter().position(|&b| b == b'-').ok_or_else(invalid)?;
        let start = inet_addr(&v[..dash]).ok_or_else(invalid)?;
        let end = inet_addr(&v[dash + 1..]).ok_or_else(invalid)?;
        if start > end {
            return Err(invalid());
        }
        if delete {
            if self.geo_delete_range(start, end) {
                warnings.push(ConfError::warn(
                    format!("no address range \"{net}\" to delete"),
                    d.head_span(),
                    d.end_line,
                ));
            }
            return Ok(());
        }
        self.geo_add_range(d, net, &value.value, start, end, warnings)
    }

    /// `ngx_http_geo_add_range`, block by block of 64K addresses.
    fn geo_add_range(
        &mut self,
        d: &Directive,
        net: &Word,
        value: &[u8],
        start: u32,
        end: u32,
        warnings: &mut Vec<ConfError>,
    ) -> Result<(), ConfError> {
        let mut n = start;
        loop {
            let h = (n >> 16) as u16;
            let s = if n == start { n & 0xffff } else { 0 } as u16;
            let e = if (n | 0xffff) > end {
                end & 0xffff
            } else {
                0xffff
            } as u16;
            let ranges = self.geo.low.entry(h).or_default();
            let mut i = ranges.len();
            let mut placed = false;
            while i > 0 {
                i -= 1;
                let (rs, re) = (ranges[i].0, ranges[i].1);
                if e < rs {
                    continue;
                }
                if s > re {
                    ranges.insert(i + 1, (s, e, value.to_vec()));
                } else if s == rs && e == re {
                    warnings.push(ConfError::warn(
                        format!(
                            "duplicate range \"{net}\", value: \"{}\", old value: \"{}\"",
                            String::from_utf8_lossy(value),
                            String::from_utf8_lossy(&ranges[i].2)
                        ),
                        d.head_span(),
                        d.end_line,
                    ));
                    ranges[i].2 = value.to_vec();
                } else if s > rs && e < re {
                    let old = ranges[i].2.clone();
                    ranges[i].1 = s - 1;
                    ranges.insert(i + 1, (s, e, value.to_vec()));
                    ranges.insert(i + 2, (e + 1, re, old));
                } else if s == rs && e < re {
                    ranges[i].0 = e + 1;
                    ranges.insert(i, (s, e, value.to_vec()));
                } else if s > rs && e == re {
                    ranges[i].1 = s - 1;
                    ranges.insert(i + 1, (s, e, value.to_vec()));
                } else {
                    let (hi, lo) = (h >> 8, h & 0xff);
                    return Err(at_end(
                        d,
                        format!(
                            "range \"{net}\" overlaps \"{hi}.{lo}.{}.{}-{hi}.{lo}.{}.{}\"",
                            rs >> 8,
                            rs & 0xff,
                            re >> 8,
                            re & 0xff
                        ),
                    ));
                }
                placed = true;
                break;
            }
            if !placed {
                ranges.insert(0, (s, e, value.to_vec()));
            }
            if h == 0xffff {
                break;
            }
            n = (n.wrapping_add(0x10000)) & 0xffff_0000;
            if n > end || n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// `ngx_http_geo_delete_range`: true when something was not found.
    fn geo_delete_range(&mut self, start: u32, end: u32) -> bool {
        let mut warn = false;
        let mut n = start;
        loop {
            let h = (n >> 16) as u16;
            let s = if n == start { n & 0xffff } else { 0 } as u16;
            let e = if (n | 0xffff) > end {
                end & 0xffff
            } else {
                0xffff
            } as u16;
            match self.geo.low.get_mut(&h) {
                Some(ranges) if !ranges.is_empty() => {
                    match ranges.iter().position(|r| r.0 == s && r.1 == e) {
                        Some(i) => {
                            ranges.remove(i);
                        }
                        None => warn = true,
                    }
                }
                _ => warn = true,
            }
            if h == 0xffff {
                break;
            }
            n = (n.wrapping_add(0x10000)) & 0xffff_0000;
            if n > end || n == 0 {
                break;
            }
        }
        warn
    }
}

/// `ngx_http_geo_cidr_value`: `invalid network`, or a warning when bits
/// below the mask are set.
fn cidr_value(d: &Directive, net: &Word, warnings: &mut Vec<ConfError>) -> Result<Cidr, ConfError> {
    if net.value == b"255.255.255.255" {
        return Ok(Cidr {
            v6: false,
            addr: 0xffff_ffff,
            mask: 0xffff_ffff,
            low_bits: false,
        });
    }
    let Some(cidr) = ptocidr(&net.value) else {
        return Err(at_end(d, format!("invalid network \"{net}\"")));
    };
    if cidr.low_bits {
        warnings.push(ConfError::warn(
            format!("low address bits of {net} are meaningless"),
            d.head_span(),
            d.end_line,
        ));
    }
    Ok(cidr)
}

/// `ngx_ptocidr`.
fn ptocidr(text: &[u8]) -> Option<Cidr> {
    let (addr, mask) = match text.iter().position(|&b| b == b'/') {
        Some(slash) => (&text[..slash], Some(&text[slash + 1..])),
        None => (text, None),
    };
    let (v6, addr, bits): (bool, u128, i64) = match std::str::from_utf8(addr)
        .ok()
        .and_then(|a| a.parse::<Ipv6Addr>().ok())
    {
        Some(ip) => (true, u128::from(ip), 128),
        None => (false, u128::from(inet_addr(addr)?), 32),
    };
    let full: u128 = if v6 { u128::MAX } else { 0xffff_ffff };
    let Some(mask) = mask else {
        return Some(Cidr {
            v6,
            addr,
            mask: full,
            low_bits: false,
        });
    };
    let shift = values::atoi(mask)?;
    if shift > bits {
        return None;
    }
    let mask = if shift == 0 {
        0
    } else {
        (full << ((bits - shift) as u32)) & full
    };
    Some(Cidr {
        v6,
        addr: addr & mask,
        mask,
        low_bits: addr & mask != addr,
    })
}

/// `ngx_inet_addr` as a host-order number.
fn inet_addr(text: &[u8]) -> Option<u32> {
    super::values::inet_addr(text).map(u32::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = ptocidr(b"10.0.0.0/8").unwrap_or_else(|| panic!("parses"));
        assert_eq!(
            (c.addr, c.mask, c.low_bits),
            (0x0a00_0000, 0xff00_0000, false)
        );
        assert!(ptocidr(b"10.0.0.1/8").is_some_and(|c| c.low_bits));
        assert!(ptocidr(b"10.0.0.0/33").is_none());
        assert!(ptocidr(b"::/0").is_some_and(|c| c.v6 && c.mask == 0));
        assert!(ptocidr(b"1.2.3.4-1.2.3.5").is_none());
        assert_eq!(inet_addr(b"1.2.3"), None);
        assert_eq!(inet_addr(b"255.255.255.255"), None);
    }
}
