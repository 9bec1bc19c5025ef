//! Bad input never panics: random bytes and random soups of nginx tokens go
//! through the lexer, the parser and the full loader (with includes and
//! every check), and must come back as a tree or an error.

#![allow(clippy::expect_used)]

use proptest::prelude::*;
use upgate_conf::{LoadOptions, load, parse_file};

/// Pieces that exercise every branch of nginx's tokenizer and the checks.
const TOKENS: &[&str] = &[
    " ",
    "\n",
    "\t",
    "\r\n",
    ";",
    "{",
    "}",
    "#",
    "# c\n",
    "\"",
    "'",
    "\\",
    "$",
    "${",
    "${a}",
    "(",
    ")",
    "\"q\"",
    "'s'",
    "http",
    "server",
    "location",
    "events",
    "listen",
    "80",
    "server_name",
    "proxy_pass",
    "http://a",
    "map",
    "$http_upgrade",
    "$connection_upgrade",
    "default",
    "upgrade",
    "''",
    "close",
    "upstream",
    "include",
    "*.conf",
    "if",
    "($a",
    "=",
    "b)",
    "set",
    "$x",
    "return",
    "200",
    "~",
    "~*",
    "^~",
    "=",
    "/a",
    "@n",
    "rewrite",
    "^/(.*)$",
    "last",
    "log_format",
    "access_log",
    "off",
    "types",
    "text/html",
    "keepalive",
    "hash",
    "consistent",
    "ip_hash",
    "10s",
    "1m",
    "on",
    "content_by_lua_block",
    "--",
    "[[",
    "]]",
    "é",
    "\u{0}",
    "\u{ff}",
];

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80)
        .prop_map(|parts| parts.concat().into_bytes())
}

fn check_all(bytes: &[u8]) {
    let config = parse_file(std::path::Path::new("/fuzz.conf"), bytes.to_vec());
    assert_eq!(config.files.len(), 1);

    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, bytes).expect("the configuration written");
    let mut options = LoadOptions::new(&path);
    options.check_environment = false;
    let loaded = load(&options);
    if let Some(error) = &loaded.error {
        assert!(!error.message.is_empty());
        let _ = error.nginx_text(&loaded.config.sources).to_string();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_all(&bytes);
    }

    #[test]
    fn token_soups_never_panic(bytes in soup()) {
        check_all(&bytes);
    }
}
