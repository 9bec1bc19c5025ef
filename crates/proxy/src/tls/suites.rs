//! OpenSSL's names mapped to what rustls offers: `ssl_protocols`,
//! `ssl_ciphers` (OpenSSL cipher strings), `ssl_ecdh_curve`, and the names
//! `$ssl_protocol`, `$ssl_cipher` and `$ssl_curve` print.
//!
//! (Being written: see the issue notes.)
