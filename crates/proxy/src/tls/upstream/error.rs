//! nginx's error log texts for a failed upstream handshake or read, and
//! their levels: OpenSSL's error strings where rustls's error has an
//! OpenSSL counterpart (an alert from the peer), as `ngx_ssl_error` and
//! `ngx_ssl_connection_error` (src/event/ngx_event_openssl.c) print them.

/// Why a handshake did not give a usable connection.
#[derive(Debug)]
pub enum HandshakeError {
    /// proxy_connect_timeout ran out (`NGX_HTTP_UPSTREAM_FT_TIMEOUT`).
    Timeout,
    /// nginx's error log text, without "while SSL handshaking to upstream"
    /// (`NGX_HTTP_UPSTREAM_FT_ERROR`).
    Failed(String),
}

/// nginx's text for a failed `SSL_do_handshake()`.
pub(super) fn handshake_message(e: &std::io::Error) -> String {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return format!("SSL_do_handshake() failed (SSL: {})", openssl_reason(tls));
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "peer closed connection in SSL handshake".into(),
        std::io::ErrorKind::ConnectionReset => format!(
            "peer closed connection in SSL handshake ({})",
            crate::proxy::errno(e)
        ),
        _ => format!("SSL_do_handshake() failed ({})", crate::proxy::errno(e)),
    }
}

/// OpenSSL's error string for what rustls reports, where OpenSSL has one:
/// an alert from the peer is `error:0A000NNN:SSL routines::<reason>:SSL
/// alert number N` (reason 1000 + the alert, `SSL_AD_REASON_OFFSET`), as
/// nginx logs it; anything else in rustls's words.
pub fn openssl_reason(e: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    let rustls::Error::AlertReceived(alert) = e else {
        return e.to_string();
    };
    let reason = match alert {
        A::UnexpectedMessage => "sslv3 alert unexpected message",
        A::BadRecordMac => "sslv3 alert bad record mac",
        A::HandshakeFailure => "sslv3 alert handshake failure",
        A::BadCertificate => "sslv3 alert bad certificate",
        A::UnsupportedCertificate => "sslv3 alert unsupported certificate",
        A::CertificateRevoked => "sslv3 alert certificate revoked",
        A::CertificateExpired => "sslv3 alert certificate expired",
        A::CertificateUnknown => "sslv3 alert certificate unknown",
        A::IllegalParameter => "sslv3 alert illegal parameter",
        A::UnknownCA => "tlsv1 alert unknown ca",
        A::AccessDenied => "tlsv1 alert access denied",
        A::DecodeError => "tlsv1 alert decode error",
        A::DecryptError => "tlsv1 alert decrypt error",
        A::ProtocolVersion => "tlsv1 alert protocol version",
        A::InsufficientSecurity => "tlsv1 alert insufficient security",
        A::InternalError => "tlsv1 alert internal error",
        A::UnrecognisedName => "tlsv1 unrecognized name",
        A::CertificateRequired => "tlsv13 alert certificate required",
        A::NoApplicationProtocol => "tlsv1 alert no application protocol",
        _ => return e.to_string(),
    };
    let n = u8::from(*alert);
    format!(
        "error:0A{:06X}:SSL routines::{reason}:SSL alert number {n}",
        1000 + u32::from(n)
    )
}

/// The level nginx logs an upstream failure at: `ngx_ssl_connection_error`
/// says `[crit]` for an OpenSSL error it does not list as the peer's doing,
/// and the upstream's `[error]` for those it does (the alerts up to
/// no_renegotiation, 100); everything else is `[error]`.
pub fn log_level(message: &str) -> upgate_conf::Level {
    const PEER_ALERTS: &[u32] = &[
        0, 10, 20, 21, 22, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 60, 70, 71, 80, 90,
        100,
    ];
    let alert = message
        .split_once("SSL alert number ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    match alert {
        Some(n) if !PEER_ALERTS.contains(&n) => upgate_conf::Level::Crit,
        _ => upgate_conf::Level::Error,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn alerts_in_openssl_words() {
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            openssl_reason(&e),
            "error:0A000410:SSL routines::sslv3 alert handshake failure:SSL alert number 40"
        );
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert_eq!(
            openssl_reason(&e),
            "error:0A00045C:SSL routines::tlsv13 alert certificate required:SSL alert number 116"
        );
    }

    #[test]
    fn levels_as_ngx_ssl_connection_error() {
        use upgate_conf::Level;
        assert_eq!(
            log_level(
                "SSL_read() failed (SSL: error:0A00045C:SSL routines::tlsv13 alert certificate required:SSL alert number 116) while"
            ),
            Level::Crit
        );
        assert_eq!(
            log_level(
                "SSL_do_handshake() failed (SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70) while"
            ),
            Level::Error
        );
        assert_eq!(
            log_level("connect() failed (111: Connection refused)"),
            Level::Error
        );
    }
}
