//! Reading the PROXY protocol header (src/core/ngx_proxy_protocol.c,
//! `ngx_proxy_protocol_read`, nginx 1.28): on a `listen ... proxy_protocol`
//! connection, what the first read brought must start with one header,
//! v1 text (`PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`, or `PROXY UNKNOWN`
//! up to CRLF) or v2 binary (12-byte signature, version 2, PROXY or LOCAL,
//! AF_INET / AF_INET6 over STREAM; other families, transports and LOCAL
//! are skipped with no addresses; TLVs are skipped). Pure: bytes in, the
//! addresses and the length used out; it never panics.

use std::net::{Ipv4Addr, Ipv6Addr};

use upgate_runtime::proxy_protocol::ProxyProtocol;

/// The v2 signature.
const SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/transport, length.
const V2_HEAD: usize = 16;

/// Why a header is refused; the text is nginx's error log line (level
/// `error`), `None` for the cases nginx closes without a word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyProtocolError {
    /// v1 not as the grammar says: the bytes read, up to the first CR or LF.
    #[error("broken header: \"{}\"", String::from_utf8_lossy(.0))]
    Broken(Vec<u8>),
    #[error("unknown PROXY protocol version: {0}")]
    UnknownVersion(u8),
    /// v2's length goes past what was read.
    #[error("header is too large")]
    TooLarge,
    /// v2 addresses shorter than their family needs.
    #[error("truncated PROXY protocol v2 addresses")]
    Truncated,
}

impl ProxyProtocolError {
    /// Whether nginx logs this case (it closes silently on [`Self::Truncated`]).
    pub fn logged(&self) -> bool {
        !matches!(self, ProxyProtocolError::Truncated)
    }
}

/// Reads one header at the start of `buf`: the addresses it names (none
/// for UNKNOWN, LOCAL and unsupported families) and the bytes it took.
pub fn read(buf: &[u8]) -> Result<(Option<ProxyProtocol>, usize), ProxyProtocolError> {
    if buf.len() >= V2_HEAD && buf.starts_with(SIGNATURE) {
        return read_v2(buf);
    }
    read_v1(buf).ok_or_else(|| {
        let end = buf
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .unwrap_or(buf.len());
        ProxyProtocolError::Broken(buf[..end].to_vec())
    })
}

fn read_v1(buf: &[u8]) -> Option<(Option<ProxyProtocol>, usize)> {
    if buf.len() < 8 || !buf.starts_with(b"PROXY ") {
        return None;
    }
    let rest = &buf[6..];
    if rest.starts_with(b"UNKNOWN") {
        // Skipped up to the first CRLF, whatever is there.
        let after = &rest[7..];
        let crlf = after.windows(2).position(|w| w == b"\r\n")?;
        return Some((None, 6 + 7 + crlf + 2));
    }
    if rest.len() < 5
        || !rest.starts_with(b"TCP")
        || !matches!(rest[3], b'4' | b'6')
        || rest[4] != b' '
    {
        return None;
    }
    let mut at = 6 + 5;
    let src_addr = read_addr(buf, &mut at)?;
    let dst_addr = read_addr(buf, &mut at)?;
    let src_port = read_port(buf, &mut at, b' ')?;
    let dst_port = read_port(buf, &mut at, b'\r')?;
    if buf.get(at) != Some(&b'\n') {
        return None;
    }
    let pp = ProxyProtocol {
        src_addr,
        dst_addr,
        src_port,
        dst_port,
    };
    Some((Some(pp), at + 1))
}

/// `ngx_proxy_protocol_read_addr`: hex digits, ':' and '.', up to a space
/// (not checked further: `$proxy_protocol_addr` is the text as sent).
fn read_addr(buf: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let start = *at;
    loop {
        let c = *buf.get(*at)?;
        *at += 1;
        if c == b' ' {
            return Some(buf[start..*at - 1].to_vec());
        }
        if !(c == b':' || c == b'.' || c.is_ascii_hexdigit()) {
            return None;
        }
    }
}

/// `ngx_proxy_protocol_read_port`: decimal digits up to `sep`, at most
/// 65535 (`ngx_atoi`: none is an error).
fn read_port(buf: &[u8], at: &mut usize, sep: u8) -> Option<u16> {
    let start = *at;
    loop {
        let c = *buf.get(*at)?;
        *at += 1;
        if c == sep {
            break;
        }
    }
    let digits = &buf[start..*at - 1];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().try_fold(0u32, |n, &d| {
        let n = n * 10 + u32::from(d - b'0');
        (n <= 65535).then_some(n)
    })?;
    u16::try_from(n).ok()
}

fn read_v2(buf: &[u8]) -> Result<(Option<ProxyProtocol>, usize), ProxyProtocolError> {
    let version = buf[12] >> 4;
    if version != 2 {
        return Err(ProxyProtocolError::UnknownVersion(version));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let body = buf
        .get(V2_HEAD..V2_HEAD + len)
        .ok_or(ProxyProtocolError::TooLarge)?;
    let end = V2_HEAD + len;
    let command = buf[12] & 0x0f;
    let transport = buf[13] & 0x0f;
    // Only PROXY over STREAM names addresses; the rest is skipped.
    if command != 1 || transport != 1 {
        return Ok((None, end));
    }
    let port = |b: &[u8], i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let pp = match buf[13] >> 4 {
        1 => {
            let a = body.get(..12).ok_or(ProxyProtocolError::Truncated)?;
            ProxyProtocol {
                src_addr: Ipv4Addr::new(a[0], a[1], a[2], a[3])
                    .to_string()
                    .into_bytes(),
                dst_addr: Ipv4Addr::new(a[4], a[5], a[6], a[7])
                    .to_string()
                    .into_bytes(),
                src_port: port(a, 8),
                dst_port: port(a, 10),
            }
        }
        2 => {
            let a = body.get(..36).ok_or(ProxyProtocolError::Truncated)?;
            let ip = |from: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[from..from + 16]);
                // ngx_sock_ntop writes an IPv4-mapped address as such.
                Ipv6Addr::from(octets).to_string().into_bytes()
            };
            ProxyProtocol {
                src_addr: ip(0),
                dst_addr: ip(16),
                src_port: port(a, 32),
                dst_port: port(a, 34),
            }
        }
        // AF_UNIX and unknown families: nginx ignores the addresses.
        _ => return Ok((None, end)),
    };
    Ok((Some(pp), end))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family << 4 | 1);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn addrs(r: &(Option<ProxyProtocol>, usize)) -> (String, u16, String, u16) {
        let pp = r.0.clone().unwrap();
        (
            String::from_utf8(pp.src_addr).unwrap(),
            pp.src_port,
            String::from_utf8(pp.dst_addr).unwrap(),
            pp.dst_port,
        )
    }

    #[test]
    fn v1_tcp4_tcp6_unknown() {
        let text = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\nGET /";
        let r = read(text).unwrap();
        assert_eq!(r.1, text.len() - 5);
        assert_eq!(
            addrs(&r),
            ("192.0.2.1".into(), 1234, "192.0.2.2".into(), 80)
        );
        let r = read(b"PROXY TCP6 2001:Db8::1 ::1 0 65535\r\n").unwrap();
        assert_eq!(addrs(&r), ("2001:Db8::1".into(), 0, "::1".into(), 65535));
        assert_eq!(read(b"PROXY UNKNOWN whatever\r\nGET"), Ok((None, 24)));
        assert_eq!(read(b"PROXY UNKNOWN\r\n"), Ok((None, 15)));
    }

    #[test]
    fn v1_broken() {
        let broken = |b: &[u8]| matches!(read(b), Err(ProxyProtocolError::Broken(_)));
        assert!(broken(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(broken(b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"));
        assert!(broken(b"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n"));
        assert!(broken(b"PROXY TCP4 1.2.3.4 1.2.3.4 1 \r\n"));
        assert!(broken(b"PROXY TCP4 1.2.3.4 1.2.3.4 x 2\r\n"));
        assert!(broken(b"PROXY TCP4 1.2.3.z 1.2.3.4 1 2\r\n"));
        assert!(broken(b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX"));
        // Truncated: the first read is all nginx looks at.
        assert!(broken(b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2"));
        assert!(broken(b"PROXY UNKNOWN"));
        assert!(broken(b"PROXY"));
        assert!(broken(b""));
        assert_eq!(
            read(b"PROXY TCP4 bad\r\nGET / HTTP/1.0\r\n")
                .unwrap_err()
                .to_string(),
            "broken header: \"PROXY TCP4 bad\""
        );
    }

    #[test]
    fn v2_inet_inet6_local_tlvs() {
        let mut body = vec![192, 0, 2, 1, 192, 0, 2, 2, 0x04, 0xd2, 0, 80];
        body.extend_from_slice(&[0x01, 0, 2, b'h', b'2']); // an ALPN TLV, skipped
        let h = v2(1, 1, &body);
        let mut input = h.clone();
        input.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
        let r = read(&input).unwrap();
        assert_eq!(r.1, h.len());
        assert_eq!(
            addrs(&r),
            ("192.0.2.1".into(), 1234, "192.0.2.2".into(), 80)
        );
        let mut six = [0u8; 36];
        six[15] = 1;
        six[16] = 0x20;
        six[17] = 0x01;
        six[32] = 0x1f;
        six[33] = 0x90;
        let r = read(&v2(1, 2, &six)).unwrap();
        assert_eq!(addrs(&r), ("::1".into(), 8080, "2001::".into(), 0));
        // LOCAL, AF_UNIX, UNSPEC, DGRAM: skipped, no addresses.
        assert_eq!(read(&v2(0, 1, &body)), Ok((None, V2_HEAD + body.len())));
        assert_eq!(read(&v2(1, 3, &[0; 216])), Ok((None, V2_HEAD + 216)));
        assert_eq!(read(&v2(1, 0, &[])), Ok((None, V2_HEAD)));
        let mut dgram = v2(1, 1, &body);
        dgram[13] = 0x12;
        assert_eq!(read(&dgram), Ok((None, V2_HEAD + body.len())));
    }

    #[test]
    fn v2_refused() {
        let h = v2(1, 1, &[0; 12]);
        assert_eq!(read(&h[..h.len() - 1]), Err(ProxyProtocolError::TooLarge));
        assert_eq!(
            read(&v2(1, 1, &[0; 11])),
            Err(ProxyProtocolError::Truncated)
        );
        assert_eq!(
            read(&v2(1, 2, &[0; 35])),
            Err(ProxyProtocolError::Truncated)
        );
        let mut v3 = h.clone();
        v3[12] = 0x31;
        assert_eq!(read(&v3), Err(ProxyProtocolError::UnknownVersion(3)));
        assert_eq!(
            ProxyProtocolError::UnknownVersion(3).to_string(),
            "unknown PROXY protocol version: 3"
        );
        // A signature shorter than the fixed part is read as v1: broken.
        assert!(matches!(read(&h[..15]), Err(ProxyProtocolError::Broken(_))));
    }

    /// Every prefix and every byte flipped: no panic, never past the input.
    #[test]
    fn never_panics() {
        let inputs = [
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n".to_vec(),
            b"PROXY UNKNOWN x\r\n".to_vec(),
            v2(1, 1, &[1; 20]),
            v2(1, 2, &[1; 40]),
        ];
        for input in &inputs {
            for n in 0..=input.len() {
                if let Ok((_, used)) = read(&input[..n]) {
                    assert!(used <= n);
                }
                for b in [0u8, 0xff, b'\r', b' '] {
                    let mut changed = input[..n].to_vec();
                    if let Some(c) = changed.last_mut() {
                        *c = b;
                    }
                    if let Ok((_, used)) = read(&changed) {
                        assert!(used <= changed.len());
                    }
                }
            }
        }
    }
}
