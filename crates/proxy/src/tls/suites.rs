//! OpenSSL's names mapped to what rustls offers: `ssl_protocols`,
//! `ssl_ciphers` (OpenSSL cipher strings), `ssl_ecdh_curve`, and the names
//! `$ssl_protocol`, `$ssl_cipher` and `$ssl_curve` print.
//!
//! nginx hands these strings to OpenSSL unchanged, so a configuration's
//! meaning is whatever OpenSSL makes of it. The cipher string is evaluated
//! the way ssl/ssl_ciph.c (`ssl_create_cipher_list`,
//! `ssl_cipher_process_rulestr`, `ssl_cipher_apply_rule`) evaluates it, over
//! OpenSSL 3.0's whole TLS <= 1.2 table ([`openssl_ciphers`]), and only then
//! narrowed to the suites rustls has: a rule that moves or removes suites
//! rustls lacks still shapes the order of those it has, and whether the
//! string selects anything at all ("no cipher match") is OpenSSL's verdict,
//! not ours.

mod openssl_ciphers;

use rustls::crypto::SupportedKxGroup;
use rustls::{
    CipherSuite, NamedGroup, ProtocolVersion, SupportedCipherSuite, SupportedProtocolVersion,
};

use openssl_ciphers::{ALIASES, CIPHERS, Cipher, DEFAULT_MASK, STRONG_MASK};

/// `ssl_protocols` / `proxy_ssl_protocols` arguments (e.g. ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "SSLv3"]).
/// Returns the versions rustls offers among them, and the names dropped because rustls never offers them (SSLv2, SSLv3, TLSv1, TLSv1.1), so the caller can warn.
/// Err if no version is left (message in nginx style, e.g. `no protocol left: rustls offers only TLSv1.2 and TLSv1.3`).
pub fn protocol_versions(
    names: &[&str],
) -> Result<(Vec<&'static SupportedProtocolVersion>, Vec<String>), String> {
    let mut tls12 = false;
    let mut tls13 = false;
    let mut dropped: Vec<String> = Vec::new();
    for &name in names {
        match name {
            "TLSv1.2" => tls12 = true,
            "TLSv1.3" => tls13 = true,
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => {
                if !dropped.iter().any(|d| d == name) {
                    dropped.push(name.to_owned());
                }
            }
            // The directive's own value check (ngx_conf_set_bitmask_slot)
            // rejects other words before we get here; a caller that skips
            // it still gets nginx's wording.
            _ => return Err(format!("invalid value \"{name}\"")),
        }
    }
    // rustls's own preference order (ALL_VERSIONS): 1.3 before 1.2.
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    if tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err("no protocol left: rustls offers only TLSv1.2 and TLSv1.3".to_owned());
    }
    Ok((versions, dropped))
}

/// `ssl_ciphers` / `proxy_ssl_ciphers`: an OpenSSL cipher string (`HIGH:!aNULL:!MD5` is nginx's default).
///
/// Returns the suites to offer, TLS 1.3 ones first in rustls's order (as
/// in OpenSSL, the cipher string does not touch them: `ssl_ciphers` sets
/// only the TLS <= 1.2 list), then the TLS 1.2 ones in the order OpenSSL
/// would list them; and how many TLS 1.2 suites were selected. A string
/// whose suites OpenSSL knows but rustls has none of (`AES128-SHA`) is Ok
/// with a count of 0: whether that is fatal depends on the enabled
/// protocols, which the caller knows.
///
/// `@SECLEVEL=4` and `=5` drop the 128-bit suites, TLS 1.3 ones included,
/// because OpenSSL's security callback refuses them at those levels.
///
/// Err: `invalid command` for a malformed string (a stray character, an
/// unknown `@` command), `no cipher match` when nothing OpenSSL knows is
/// selected.
pub fn cipher_suites(spec: &str) -> Result<(Vec<SupportedCipherSuite>, usize), String> {
    let mut list = CipherList::openssl_default_order();
    let rules = suiteb_rules(spec).unwrap_or(spec);
    // Only a leading DEFAULT expands, and by prefix ("DEFAULTX" is
    // DEFAULT then X), as strncmp(rule_str, "DEFAULT", 7) does.
    let rest = match rules.strip_prefix("DEFAULT") {
        Some(rest) => {
            list.process(DEFAULT_CIPHER_LIST)?;
            rest.strip_prefix(':').unwrap_or(rest)
        }
        None => rules,
    };
    list.process(rest)?;

    if !list.entries.iter().any(|e| e.active) {
        return Err("no cipher match".to_owned());
    }
    let min_bits = list.min_strength_bits();
    let provider = crate::tls::provider();
    let strong_enough = |s: &SupportedCipherSuite| suite_bits(s.suite()) >= min_bits;

    let mut suites: Vec<SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_some() && strong_enough(s))
        .copied()
        .collect();
    let mut tls12 = 0;
    for entry in list.entries.iter().filter(|e| e.active) {
        let id = CipherSuite::from(entry.cipher.id);
        if let Some(s) = provider
            .cipher_suites
            .iter()
            .find(|s| s.tls13().is_none() && s.suite() == id && strong_enough(s))
        {
            suites.push(*s);
            tls12 += 1;
        }
    }
    Ok((suites, tls12))
}

/// `ssl_ecdh_curve`: `auto` (rustls's default groups: X25519, secp256r1, secp384r1, X25519MLKEM768) or a `:`-separated list of OpenSSL names.
///
/// Returns the groups in the given order (the client's preference when
/// upgate is the client) and the names OpenSSL knows but aws-lc-rs has not
/// (secp521r1, X448, the ffdhe groups, brainpool curves), so the caller can
/// warn. Err on a name OpenSSL does not know (SSL_CTX_set1_curves_list
/// fails the whole list then) or when nothing is left.
pub fn kx_groups(spec: &str) -> Result<(Vec<&'static dyn SupportedKxGroup>, Vec<String>), String> {
    use rustls::crypto::aws_lc_rs::kx_group;
    if spec == "auto" {
        return Ok((
            rustls::crypto::aws_lc_rs::DEFAULT_KX_GROUPS.to_vec(),
            Vec::new(),
        ));
    }
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for name in spec.split(':') {
        let group: &'static dyn SupportedKxGroup = match name.to_ascii_lowercase().as_str() {
            "x25519" => kx_group::X25519,
            "prime256v1" | "secp256r1" | "p-256" => kx_group::SECP256R1,
            "secp384r1" | "p-384" => kx_group::SECP384R1,
            "x25519mlkem768" => kx_group::X25519MLKEM768,
            "secp256r1mlkem768" => kx_group::SECP256R1MLKEM768,
            "mlkem768" => kx_group::MLKEM768,
            "mlkem1024" => kx_group::MLKEM1024,
            "secp521r1" | "p-521" | "x448" | "ffdhe2048" | "ffdhe3072" | "ffdhe4096"
            | "ffdhe6144" | "ffdhe8192" | "brainpoolp256r1" | "brainpoolp384r1"
            | "brainpoolp512r1" | "secp256k1" | "mlkem512" => {
                if !dropped.iter().any(|d| d == name) {
                    dropped.push(name.to_owned());
                }
                continue;
            }
            _ => return Err(format!("unknown curve \"{name}\" in \"{spec}\"")),
        };
        if !groups.iter().any(|g| g.name() == group.name()) {
            groups.push(group);
        }
    }
    if groups.is_empty() {
        return Err(format!(
            "no curve left in \"{spec}\": rustls offers only X25519, prime256v1 and secp384r1"
        ));
    }
    Ok((groups, dropped))
}

/// `$ssl_protocol`: OpenSSL's SSL_get_version() names.
pub fn protocol_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::SSLv2 => "SSLv2".to_owned(),
        ProtocolVersion::SSLv3 => "SSLv3".to_owned(),
        ProtocolVersion::TLSv1_0 => "TLSv1".to_owned(),
        ProtocolVersion::TLSv1_1 => "TLSv1.1".to_owned(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        other => hex_code(u16::from(other)),
    }
}

/// `$ssl_cipher`: OpenSSL's name (SSL_CIPHER_get_name), which for TLS 1.3
/// suites is the IANA one.
pub fn cipher_name(s: CipherSuite) -> String {
    let id = u16::from(s);
    let tls13 = match id {
        0x1301 => Some("TLS_AES_128_GCM_SHA256"),
        0x1302 => Some("TLS_AES_256_GCM_SHA384"),
        0x1303 => Some("TLS_CHACHA20_POLY1305_SHA256"),
        0x1304 => Some("TLS_AES_128_CCM_SHA256"),
        0x1305 => Some("TLS_AES_128_CCM_8_SHA256"),
        _ => None,
    };
    match tls13.or_else(|| CIPHERS.iter().find(|c| c.id == id).map(|c| c.name)) {
        Some(name) => name.to_owned(),
        None => hex_code(id),
    }
}

/// `$ssl_curve`: the short names OBJ_nid2sn gives (`prime256v1`, not
/// `secp256r1`), as nginx's ngx_ssl_get_curve prints them.
pub fn group_name(g: NamedGroup) -> String {
    let name = match g {
        NamedGroup::X25519 => "X25519",
        NamedGroup::X448 => "X448",
        NamedGroup::secp256r1 => "prime256v1",
        NamedGroup::secp384r1 => "secp384r1",
        NamedGroup::secp521r1 => "secp521r1",
        NamedGroup::FFDHE2048 => "ffdhe2048",
        NamedGroup::FFDHE3072 => "ffdhe3072",
        NamedGroup::FFDHE4096 => "ffdhe4096",
        NamedGroup::FFDHE6144 => "ffdhe6144",
        NamedGroup::FFDHE8192 => "ffdhe8192",
        NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        NamedGroup::secp256r1MLKEM768 => "SecP256r1MLKEM768",
        NamedGroup::MLKEM512 => "MLKEM512",
        NamedGroup::MLKEM768 => "MLKEM768",
        NamedGroup::MLKEM1024 => "MLKEM1024",
        other => return hex_code(u16::from(other)),
    };
    name.to_owned()
}

fn hex_code(code: u16) -> String {
    format!("0x{code:04x}")
}

/// OpenSSL 3.0's OSSL_default_cipher_list(), what a leading `DEFAULT` means.
const DEFAULT_CIPHER_LIST: &str = "ALL:!COMPLEMENTOFDEFAULT:!eNULL";

/// The Suite B strings replace the whole rule string
/// (check_suiteb_cipher_list); their curve and signature limits are not
/// ours to enforce here.
fn suiteb_rules(spec: &str) -> Option<&'static str> {
    if spec.starts_with("SUITEB128ONLY") {
        Some("ECDHE-ECDSA-AES128-GCM-SHA256")
    } else if spec.starts_with("SUITEB128C2") || spec.starts_with("SUITEB192") {
        Some("ECDHE-ECDSA-AES256-GCM-SHA384")
    } else if spec.starts_with("SUITEB128") {
        Some("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
    } else {
        None
    }
}

/// The strength_bits of a rustls suite, by the OpenSSL table entry with
/// its code (TLS 1.3 ones are not in it).
fn suite_bits(s: CipherSuite) -> u32 {
    match u16::from(s) {
        0x1301 | 0x1304 | 0x1305 => 128,
        0x1302 | 0x1303 => 256,
        id => CIPHERS
            .iter()
            .find(|c| c.id == id)
            .map_or(0, Cipher::strength_bits),
    }
}

/// What a rule does to the suites it matches (ssl_ciph.c's CIPHER_* ops).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    /// (no prefix) append the inactive ones to the end, active.
    Add,
    /// `+`: move the active ones to the end.
    Ord,
    /// `-`: move the active ones to the front, inactive, so that a later
    /// Add brings them back first.
    Del,
    /// `!`: remove for good.
    Kill,
    /// Move the active ones to the front (default ordering only).
    Bump,
}

/// A rule's selector: zero fields match anything, as in ssl_cipher_apply_rule.
#[derive(Clone, Copy, Default, Debug)]
struct Selector {
    id: u16,
    mkey: u32,
    auth: u32,
    enc: u32,
    mac: u32,
    min_tls: u16,
    strength: u32,
    /// Set only by the strength sort, which selects by bits alone.
    bits: Option<u32>,
}

impl Selector {
    fn matches(&self, c: &Cipher) -> bool {
        if let Some(bits) = self.bits {
            return c.strength_bits() == bits;
        }
        let field = |want: u32, have: u32| want == 0 || want & have != 0;
        (self.id == 0 || self.id == c.id)
            && field(self.mkey, c.mkey)
            && field(self.auth, c.auth)
            && field(self.enc, c.enc)
            && field(self.mac, c.mac)
            && (self.min_tls == 0 || self.min_tls == c.min_tls)
            && field(self.strength & STRONG_MASK, c.strength)
            && field(self.strength & DEFAULT_MASK, c.strength)
    }

    /// ANDs one word of a `+` chain into the selector; false when a field
    /// becomes empty (the chain then matches nothing and is skipped).
    fn narrow(&mut self, w: &Word) -> bool {
        fn and(acc: &mut u32, v: u32) -> bool {
            if v != 0 {
                *acc = if *acc != 0 { *acc & v } else { v };
                return *acc != 0;
            }
            true
        }
        if !(and(&mut self.mkey, w.mkey)
            && and(&mut self.auth, w.auth)
            && and(&mut self.enc, w.enc)
            && and(&mut self.mac, w.mac))
        {
            return false;
        }
        let strong = w.strength & STRONG_MASK;
        if strong != 0 {
            if self.strength & STRONG_MASK != 0 {
                self.strength &= strong | !STRONG_MASK;
                if self.strength & STRONG_MASK == 0 {
                    return false;
                }
            } else {
                // Plain assignment, dropping a NOT_DEFAULT bit set by an
                // earlier word: OpenSSL does the same.
                self.strength = strong;
            }
        }
        let default = w.strength & DEFAULT_MASK;
        if default != 0 {
            if self.strength & DEFAULT_MASK != 0 {
                self.strength &= default | !DEFAULT_MASK;
                if self.strength & DEFAULT_MASK == 0 {
                    return false;
                }
            } else {
                self.strength |= default;
            }
        }
        // A suite's own name selects that suite; its version is not part
        // of the pattern, only an alias's is.
        self.id = w.id;
        if w.min_tls != 0 {
            if self.min_tls != 0 && self.min_tls != w.min_tls {
                return false;
            }
            self.min_tls = w.min_tls;
        }
        true
    }
}

/// A cipher-string word found among the suites or the aliases.
struct Word {
    id: u16,
    mkey: u32,
    auth: u32,
    enc: u32,
    mac: u32,
    min_tls: u16,
    strength: u32,
}

fn lookup(name: &str) -> Option<Word> {
    if let Some(c) = CIPHERS.iter().find(|c| c.name == name) {
        return Some(Word {
            id: c.id,
            mkey: c.mkey,
            auth: c.auth,
            enc: c.enc,
            mac: c.mac,
            min_tls: 0,
            strength: c.strength,
        });
    }
    ALIASES.iter().find(|a| a.name == name).map(|a| Word {
        id: 0,
        mkey: a.mkey,
        auth: a.auth,
        enc: a.enc,
        mac: a.mac,
        min_tls: a.min_tls,
        strength: a.strength,
    })
}

struct Entry {
    cipher: &'static Cipher,
    active: bool,
}

/// OpenSSL's CIPHER_ORDER list: every suite, ordered, active or not.
struct CipherList {
    entries: Vec<Entry>,
    sec_level: u8,
}

impl CipherList {
    /// The list ssl_create_cipher_list builds before reading the string:
    /// every suite in OpenSSL's preference order, none active.
    fn openssl_default_order() -> CipherList {
        use openssl_ciphers::*;
        let mut list = CipherList {
            entries: CIPHERS
                .iter()
                .map(|cipher| Entry {
                    cipher,
                    active: false,
                })
                .collect(),
            sec_level: 1,
        };
        let by = |mkey, auth, enc, mac| Selector {
            mkey,
            auth,
            enc,
            mac,
            ..Selector::default()
        };
        // ECDHE first, ECDSA before RSA among them.
        list.apply(by(K_ECDHE, A_ECDSA, 0, 0), Op::Add);
        list.apply(by(K_ECDHE, 0, 0, 0), Op::Add);
        list.apply(by(K_ECDHE, 0, 0, 0), Op::Del);
        // GCM before ChaCha20, then AES in other modes, then the rest.
        list.apply(by(0, 0, E_AESGCM, 0), Op::Add);
        list.apply(by(0, 0, E_CHACHA20POLY1305, 0), Op::Add);
        list.apply(by(0, 0, E_AES & !E_AESGCM, 0), Op::Add);
        list.apply(Selector::default(), Op::Add);
        // To the end: MD5, anonymous, static RSA, plain PSK, RC4.
        list.apply(by(0, 0, 0, M_MD5), Op::Ord);
        list.apply(by(0, A_NULL, 0, 0), Op::Ord);
        list.apply(by(K_RSA, 0, 0, 0), Op::Ord);
        list.apply(by(K_PSK, 0, 0, 0), Op::Ord);
        list.apply(by(0, 0, E_RC4, 0), Op::Ord);
        list.strength_sort();
        // Bumped in reverse order of preference: (EC)DHE+AEAD, (EC)DHE,
        // AEAD, TLS 1.2 suites.
        list.apply(
            Selector {
                min_tls: TLS1_2,
                ..Selector::default()
            },
            Op::Bump,
        );
        list.apply(by(0, 0, 0, M_AEAD), Op::Bump);
        list.apply(by(K_DHE | K_ECDHE, 0, 0, 0), Op::Bump);
        list.apply(by(K_DHE | K_ECDHE, 0, 0, M_AEAD), Op::Bump);
        list.apply(Selector::default(), Op::Del);
        list
    }

    /// ssl_cipher_apply_rule. Every operation moves its matches as a block
    /// in their current relative order, so a stable partition does it.
    fn apply(&mut self, sel: Selector, op: Op) {
        let hit = |e: &Entry| {
            sel.matches(e.cipher)
                && match op {
                    Op::Add => !e.active,
                    Op::Ord | Op::Del | Op::Bump => e.active,
                    Op::Kill => true,
                }
        };
        let (mut moved, rest): (Vec<Entry>, Vec<Entry>) =
            std::mem::take(&mut self.entries).into_iter().partition(hit);
        match op {
            Op::Add | Op::Ord => {
                for e in &mut moved {
                    e.active = true;
                }
                self.entries = rest;
                self.entries.extend(moved);
            }
            Op::Del | Op::Bump => {
                if op == Op::Del {
                    for e in &mut moved {
                        e.active = false;
                    }
                }
                moved.extend(rest);
                self.entries = moved;
            }
            Op::Kill => self.entries = rest,
        }
    }

    /// `@STRENGTH` (ssl_cipher_strength_sort): the active suites moved to
    /// the end by descending strength_bits, ties kept in order.
    fn strength_sort(&mut self) {
        let mut used: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| e.active)
            .map(|e| e.cipher.strength_bits())
            .collect();
        used.sort_unstable_by(|a, b| b.cmp(a));
        used.dedup();
        for bits in used {
            self.apply(
                Selector {
                    bits: Some(bits),
                    ..Selector::default()
                },
                Op::Ord,
            );
        }
    }

    /// ssl_cipher_process_rulestr.
    fn process(&mut self, rules: &str) -> Result<(), String> {
        let b = rules.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let (op, special) = match b[i] {
                b'-' => (Op::Del, false),
                b'+' => (Op::Ord, false),
                b'!' => (Op::Kill, false),
                b'@' => (Op::Add, true),
                c if is_separator(c) => {
                    i += 1;
                    continue;
                }
                _ => (Op::Add, false),
            };
            if special || op != Op::Add {
                i += 1;
            }
            let mut sel = Selector::default();
            let mut found = true;
            let mut word;
            loop {
                let start = i;
                while i < b.len() && is_name_char(b[i]) {
                    i += 1;
                }
                word = &rules[start..i];
                if word.is_empty() {
                    return Err(format!("invalid command in \"{rules}\""));
                }
                if special {
                    break;
                }
                let multi = b.get(i) == Some(&b'+');
                if multi {
                    i += 1;
                }
                // An unknown word voids its whole `+` chain, silently.
                match lookup(word) {
                    Some(w) if sel.narrow(&w) => {}
                    _ => {
                        found = false;
                        break;
                    }
                }
                if !multi {
                    break;
                }
            }
            if special {
                self.special(word, rules)?;
            } else if found {
                self.apply(sel, op);
                continue;
            }
            // What is left of a skipped or `@` word, up to the separator.
            while i < b.len() && !is_separator(b[i]) {
                i += 1;
            }
        }
        Ok(())
    }

    fn special(&mut self, word: &str, rules: &str) -> Result<(), String> {
        if word == "STRENGTH" {
            self.strength_sort();
            return Ok(());
        }
        if let Some(&[d @ b'0'..=b'5']) = word.strip_prefix("SECLEVEL=").map(str::as_bytes) {
            self.sec_level = d - b'0';
            return Ok(());
        }
        Err(format!("invalid command \"@{word}\" in \"{rules}\""))
    }

    /// The bits a suite needs at the security level (ssl_security_default_callback).
    fn min_strength_bits(&self) -> u32 {
        match self.sec_level {
            0 => 0,
            1 => 80,
            2 => 112,
            3 => 128,
            4 => 192,
            _ => 256,
        }
    }
}

fn is_separator(c: u8) -> bool {
    matches!(c, b':' | b' ' | b';' | b',')
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'=')
}

#[cfg(test)]
mod tests;
