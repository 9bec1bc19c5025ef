//! The nginx release a configuration is written for. nginx 1.29.7 changed
//! three defaults that the rules depend on (NGINX-BEHAVIOUR.md, 27):
//! `proxy_http_version` 1.1, no `Connection` header, and `keepalive 32 local`
//! in every `upstream {}` block. It also picks the directive table the
//! configuration is loaded with ([`NginxVersion::table_release`]).

use std::fmt;
use std::str::FromStr;

use upgate_conf::directives::Release;

/// `major.minor.patch`; ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NginxVersion(pub u16, pub u16, pub u16);

impl NginxVersion {
    /// The release whose defaults changed.
    pub const NEW_DEFAULTS: NginxVersion = NginxVersion(1, 29, 7);

    /// True when `proxy_http_version` defaults to 1.1, no `Connection:
    /// close` is sent by default, and upstream blocks keep connections alive
    /// without a `keepalive` directive.
    pub fn has_new_defaults(self) -> bool {
        self >= Self::NEW_DEFAULTS
    }

    /// The release whose directive table judges a configuration for this
    /// version: its stable series' (1.22, 1.24, 1.26, 1.28), or the newest
    /// table's for a later release (1.29.x, 1.30), which the table does not
    /// describe yet. `None` for an older or a mainline series in between
    /// (1.20, 1.25): no table says what it had.
    pub fn table_release(self) -> Option<Release> {
        let series = format!("{}.{}", self.0, self.1);
        if let Some(release) = Release::of_version(&series) {
            return Some(release);
        }
        let newest: NginxVersion = Release::NEWEST.version().parse().ok()?;
        ((self.0, self.1) > (newest.0, newest.1)).then_some(Release::NEWEST)
    }
}

impl Default for NginxVersion {
    /// Current stable (1.28), upgate's compatibility target.
    fn default() -> Self {
        NginxVersion(1, 28, 0)
    }
}

impl FromStr for NginxVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let num = |i: usize| -> Result<u16, String> {
            match parts.get(i) {
                None => Ok(0),
                Some(p) => p.parse().map_err(|_| {
                    format!("invalid nginx version \"{s}\" (expected e.g. 1.22 or 1.29.7)")
                }),
            }
        };
        if parts.len() < 2 || parts.len() > 3 {
            return Err(format!(
                "invalid nginx version \"{s}\" (expected e.g. 1.22 or 1.29.7)"
            ));
        }
        Ok(NginxVersion(num(0)?, num(1)?, num(2)?))
    }
}

impl fmt::Display for NginxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!("1.22".parse(), Ok(NginxVersion(1, 22, 0)));
        assert_eq!("1.29.7".parse(), Ok(NginxVersion(1, 29, 7)));
        assert!(
            "1.30"
                .parse::<NginxVersion>()
                .is_ok_and(|v| v.has_new_defaults())
        );
        assert!(!NginxVersion(1, 29, 6).has_new_defaults());
        assert!("x".parse::<NginxVersion>().is_err());
    }

    #[test]
    fn table_releases() {
        let table = |v: &str| {
            v.parse::<NginxVersion>()
                .ok()
                .and_then(NginxVersion::table_release)
        };
        assert_eq!(table("1.22"), Some(Release::V1_22));
        assert_eq!(table("1.24.0"), Some(Release::V1_24));
        assert_eq!(table("1.26.2"), Some(Release::V1_26));
        assert_eq!(table("1.28"), Some(Release::V1_28));
        assert_eq!(table("1.29.7"), Some(Release::V1_28));
        assert_eq!(table("1.30"), Some(Release::V1_28));
        assert_eq!(table("2.0"), Some(Release::V1_28));
        assert_eq!(table("1.25.1"), None);
        assert_eq!(table("1.20"), None);
    }
}
