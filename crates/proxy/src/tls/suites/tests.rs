#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// The TLS 1.2 part of a selection, by OpenSSL name.
fn tls12(spec: &str) -> Vec<String> {
    let (suites, n) = cipher_suites(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let names: Vec<String> = suites
        .iter()
        .filter(|s| s.tls13().is_none())
        .map(|s| cipher_name(s.suite()))
        .collect();
    assert_eq!(names.len(), n, "{spec}: count");
    names
}

const ALL6: [&str; 6] = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
];

#[test]
fn nginx_default_selects_every_tls12_suite_rustls_has() {
    assert_eq!(tls12("HIGH:!aNULL:!MD5"), ALL6);
    let (suites, n) = cipher_suites("HIGH:!aNULL:!MD5").unwrap();
    assert_eq!((suites.len(), n), (9, 6));
}

#[test]
fn tls13_suites_come_first_in_rustls_order_whatever_the_string() {
    for spec in [
        "HIGH:!aNULL:!MD5",
        "AES128-SHA",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ] {
        let (suites, _) = cipher_suites(spec).unwrap();
        let first: Vec<String> = suites
            .iter()
            .take(3)
            .map(|s| cipher_name(s.suite()))
            .collect();
        assert_eq!(
            first,
            [
                "TLS_AES_256_GCM_SHA384",
                "TLS_AES_128_GCM_SHA256",
                "TLS_CHACHA20_POLY1305_SHA256"
            ],
            "{spec}"
        );
    }
}

#[test]
fn one_suite_by_name() {
    assert_eq!(
        tls12("ECDHE-RSA-AES128-GCM-SHA256"),
        ["ECDHE-RSA-AES128-GCM-SHA256"]
    );
    assert_eq!(
        tls12("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"),
        [
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256"
        ]
    );
}

#[test]
fn suites_openssl_knows_but_rustls_lacks_select_no_tls12_suite() {
    for spec in [
        "AES128-SHA",
        "DHE-RSA-AES256-SHA",
        "RC4-SHA",
        "DES-CBC3-SHA",
        "AES128-SHA:AES256-SHA",
    ] {
        let (suites, n) = cipher_suites(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!((suites.len(), n), (3, 0), "{spec}");
    }
}

#[test]
fn no_cipher_match() {
    for spec in [
        "garbage",
        "!ALL",
        "ALL:!ALL",
        "",
        "EXPORT",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "HIGH+FIPS",
    ] {
        assert_eq!(
            cipher_suites(spec).err().as_deref(),
            Some("no cipher match"),
            "{spec:?}"
        );
    }
}

#[test]
fn malformed_strings_are_invalid_commands() {
    for spec in [
        "HIGH:#x",
        "HIGH:@FOO",
        "HIGH:!",
        "kEECDH+",
        "@SECLEVEL=9",
        "HIGH:@",
    ] {
        let err = cipher_suites(spec).unwrap_err();
        assert!(err.starts_with("invalid command"), "{spec}: {err}");
    }
}

#[test]
fn separators_and_words_glued_to_operators() {
    assert_eq!(tls12("HIGH,!aNULL ;!MD5"), ALL6);
    // After a word, an operator starts the next rule without a separator.
    assert_eq!(tls12("ECDHE!ECDSA"), tls12("ECDHE:!ECDSA"));
}

#[test]
fn eecdh_aesgcm() {
    assert_eq!(
        tls12("EECDH+AESGCM:EDH+AESGCM"),
        [
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ]
    );
}

#[test]
fn multi_part_words_intersect() {
    assert_eq!(
        tls12("kEECDH+aECDSA+AES128"),
        ["ECDHE-ECDSA-AES128-GCM-SHA256"]
    );
    // An unknown word voids its whole chain.
    assert!(cipher_suites("kEECDH+AEAD").is_err());
}

#[test]
fn rule_order_is_preference_order() {
    assert_eq!(
        tls12("kEECDH+aRSA:kEECDH+aECDSA"),
        [
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ]
    );
    let ecdsa_first = tls12("kEECDH+aECDSA:kEECDH+aRSA");
    assert!(
        ecdsa_first[..3].iter().all(|n| n.contains("ECDSA")),
        "{ecdsa_first:?}"
    );
}

#[test]
fn strength_sorts_by_bits() {
    assert_eq!(
        tls12("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:@STRENGTH"),
        ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]
    );
}

#[test]
fn minus_moves_out_and_plus_moves_to_the_end() {
    // `+` moves the matches to the end.
    assert_eq!(
        tls12("ECDHE:+AES256"),
        [
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
        ]
    );
    // `-` removes, but a later rule may add them back (at the end).
    assert_eq!(
        tls12("ECDHE:-ECDSA:ALL"),
        [
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ]
    );
    // `!` removes for good.
    assert_eq!(tls12("ECDHE:!ECDSA:ALL"), tls12("ECDHE:-ECDSA"));
    assert_eq!(tls12("ECDHE:!ECDSA:ALL").len(), 3);
}

#[test]
fn leading_default_expands() {
    assert_eq!(tls12("DEFAULT"), ALL6);
    assert_eq!(tls12("DEFAULT:!ECDSA").len(), 3);
    // Elsewhere DEFAULT is an unknown word.
    assert!(cipher_suites("AES128-SHA:DEFAULT").unwrap().1 == 0);
}

#[test]
fn high_security_levels_drop_128_bit_suites() {
    let (suites, n) = cipher_suites("HIGH:@SECLEVEL=4").unwrap();
    assert_eq!(n, 4);
    assert!(
        suites
            .iter()
            .all(|s| !cipher_name(s.suite()).contains("128"))
    );
    assert_eq!(suites.len(), 6);
    assert_eq!(cipher_suites("HIGH:@SECLEVEL=2").unwrap().1, 6);
}

#[test]
fn protocols() {
    let (v, dropped) =
        protocol_versions(&["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "SSLv3"]).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].version, ProtocolVersion::TLSv1_3);
    assert_eq!(v[1].version, ProtocolVersion::TLSv1_2);
    assert_eq!(dropped, ["TLSv1", "TLSv1.1", "SSLv3"]);
    let (v, dropped) = protocol_versions(&["TLSv1.2"]).unwrap();
    assert_eq!((v.len(), dropped.len()), (1, 0));
    assert_eq!(
        protocol_versions(&["TLSv1", "TLSv1.1"]).unwrap_err(),
        "no protocol left: rustls offers only TLSv1.2 and TLSv1.3"
    );
    assert!(protocol_versions(&["TLSv9"]).is_err());
}

#[test]
fn curves() {
    let names = |spec| -> (Vec<String>, Vec<String>) {
        let (g, d) = kx_groups(spec).unwrap();
        (g.iter().map(|g| group_name(g.name())).collect(), d)
    };
    assert_eq!(
        names("auto").0,
        ["X25519", "prime256v1", "secp384r1", "X25519MLKEM768"]
    );
    assert_eq!(
        names("secp384r1:X25519:P-256:prime256v1"),
        (
            vec!["secp384r1".into(), "X25519".into(), "prime256v1".into()],
            vec![]
        )
    );
    assert_eq!(
        names("X448:secp521r1:X25519"),
        (
            vec!["X25519".into()],
            vec!["X448".into(), "secp521r1".into()]
        )
    );
    assert!(
        kx_groups("secp521r1")
            .unwrap_err()
            .starts_with("no curve left")
    );
    assert!(
        kx_groups("nosuchcurve")
            .unwrap_err()
            .starts_with("unknown curve")
    );
}

#[test]
fn variable_names() {
    assert_eq!(protocol_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
    assert_eq!(protocol_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
    assert_eq!(protocol_name(ProtocolVersion::Unknown(0x7f1c)), "0x7f1c");
    assert_eq!(
        cipher_name(CipherSuite::TLS13_AES_128_GCM_SHA256),
        "TLS_AES_128_GCM_SHA256"
    );
    assert_eq!(
        cipher_name(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        "ECDHE-RSA-AES128-GCM-SHA256"
    );
    assert_eq!(
        cipher_name(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        "ECDHE-ECDSA-CHACHA20-POLY1305"
    );
    assert_eq!(cipher_name(CipherSuite::Unknown(0xabcd)), "0xabcd");
    assert_eq!(group_name(NamedGroup::X25519), "X25519");
    assert_eq!(group_name(NamedGroup::secp256r1), "prime256v1");
    assert_eq!(group_name(NamedGroup::secp384r1), "secp384r1");
    assert_eq!(group_name(NamedGroup::Unknown(0x0a0a)), "0x0a0a");
    // Every rustls suite has a name.
    for s in rustls::crypto::ring::ALL_CIPHER_SUITES {
        assert!(!cipher_name(s.suite()).starts_with("0x"), "{:?}", s.suite());
    }
}

/// Strings nginx configurations use, and the rule engine's corners.
const DIFFERENTIAL: &[&str] = &[
    "HIGH:!aNULL:!MD5",
    "DEFAULT",
    "DEFAULTX",
    "ALL",
    "ALL:!EXPORT",
    "ALL:@STRENGTH",
    "HIGH:@STRENGTH",
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
    "EECDH+AESGCM:EDH+AESGCM",
    "kEECDH+aECDSA+AES128",
    "kEECDH+aECDSA:kEECDH+aRSA",
    "kEECDH+aRSA:kEECDH+aECDSA",
    "AES128-SHA",
    "garbage",
    "!ALL",
    "ALL:!ALL",
    "ALL:-ALL:ECDHE",
    "HIGH:-ECDSA:+AES128",
    "HIGH:+CHACHA20",
    "HIGH:-AES256:ECDSA",
    "ECDHE:!AES128",
    "AESGCM:CHACHA20",
    "CHACHA20:AESGCM",
    "CHACHA20:AESGCM:@STRENGTH",
    "TLSv1.2",
    "TLSv1.2+ECDSA",
    "SSLv3:TLSv1.2",
    "HIGH+FIPS",
    "FIPS",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFDEFAULT+HIGH",
    "DEFAULT:!ECDSA",
    "DEFAULT:-AESGCM:AESGCM",
    "HIGH,!aNULL ;!MD5",
    "ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
     ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
     DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
    "EECDH+CHACHA20:EECDH+AES128:RSA+AES128:EECDH+AES256:RSA+AES256:EECDH+3DES:RSA+3DES:!MD5",
    "HIGH:!aNULL:!MD5:@SECLEVEL=4",
    "ECDHE:@SECLEVEL=5",
    "HIGH:@FOO",
    "HIGH:#x",
    "SUITEB128",
    "SUITEB192",
    "AES256+SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256+ECDSA",
    "ALL:+aRSA",
    "kECDHE+SHA256",
    "ECDHE+AEAD",
    "-ALL:HIGH",
    "HIGH:!TLSv1.2",
    "aECDSA:aRSA:!SHA384",
    "RSA+AESGCM",
    "ECDHE!ECDSA",
    "CBC:ECDHE",
    "ARIA:CAMELLIA:AES",
    "AES256:AES128:-CHACHA20:CHACHA20",
    "HIGH:MEDIUM:!aNULL:!MD5:!RC4:!3DES:!CAMELLIA:!SEED",
];

/// Our TLS 1.2 selection against the real `openssl ciphers` over the same
/// strings, narrowed to the suites rustls has. A missing `openssl` fails
/// the test: it is the reference.
#[test]
fn matches_openssl_ciphers() {
    let ours: Vec<&str> = ALL6.to_vec();
    let mut failures = Vec::new();
    for spec in DIFFERENTIAL {
        let out = std::process::Command::new("openssl")
            .args(["ciphers", "-s", "-tls1_2", "--", spec])
            .output()
            .expect("`openssl` must be installed: it is the reference for cipher strings");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let got = cipher_suites(spec);
        if stderr.contains("invalid command") {
            if got.is_ok() {
                failures.push(format!(
                    "{spec}: openssl says invalid command, we say {got:?}"
                ));
            }
            continue;
        }
        if stderr.contains("no cipher match") {
            if let Ok((_, n @ 1..)) = &got {
                failures.push(format!(
                    "{spec}: openssl says no cipher match, we select {n}"
                ));
            }
            continue;
        }
        assert!(out.status.success(), "{spec}: openssl failed: {stderr}");
        let want: Vec<&str> = stdout
            .trim()
            .split(':')
            .filter(|n| ours.contains(n))
            .collect();
        match got {
            Ok(_) => {
                let have = tls12(spec);
                if have != want {
                    failures.push(format!("{spec}:\n  openssl {want:?}\n  ours    {have:?}"));
                }
            }
            Err(e) => failures.push(format!("{spec}: openssl selects {want:?}, we fail: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
