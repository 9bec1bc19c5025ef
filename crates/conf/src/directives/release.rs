//! The nginx releases the directive table describes, and how a version
//! given on the command line names one of them.

use super::NGINX_VERSIONS;

/// A release whose directive table is in [`super::DIRECTIVES`]: one per
/// stable series, in the order of [`NGINX_VERSIONS`] (oldest first), which
/// is also the order of the bits of [`super::DirectiveSpec::releases`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// 1.22.1, Debian 12's nginx: the reference build.
    V1_22,
    V1_24,
    V1_26,
    V1_28,
}

impl Release {
    /// Oldest first.
    pub const ALL: [Release; 4] = [
        Release::V1_22,
        Release::V1_24,
        Release::V1_26,
        Release::V1_28,
    ];

    /// The newest release of the table, current stable.
    pub const NEWEST: Release = Release::V1_28;

    /// This release's bit in [`super::DirectiveSpec::releases`].
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The exact release the table was generated from, e.g. "1.22.1".
    pub fn version(self) -> &'static str {
        // A test checks that NGINX_VERSIONS has one version per variant.
        NGINX_VERSIONS[self as usize]
    }

    /// "1.22", "1.24", ...
    pub fn series(self) -> &'static str {
        match self {
            Release::V1_22 => "1.22",
            Release::V1_24 => "1.24",
            Release::V1_26 => "1.26",
            Release::V1_28 => "1.28",
        }
    }

    /// The release of the series `version` belongs to: "1.26" and "1.26.2"
    /// are [`Release::V1_26`]. Every release of a stable series has the same
    /// directives (nginx adds features in mainline only), so the table of the
    /// series' last release stands for all of them. `None` for a version of
    /// any other series and for anything that is not `MAJOR.MINOR[.PATCH]`.
    pub fn of_version(version: &str) -> Option<Release> {
        let parts: Vec<&str> = version.split('.').collect();
        let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) {
            return None;
        }
        let series = format!("{}.{}", parts[0], parts[1]);
        Release::ALL.into_iter().find(|r| r.series() == series)
    }

    /// "1.22, 1.24, 1.26 or 1.28", for messages and help.
    pub fn accepted() -> String {
        let series: Vec<&str> = Release::ALL.iter().map(|r| r.series()).collect();
        match series.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => series.join(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_match_the_generated_versions() {
        assert_eq!(NGINX_VERSIONS.len(), Release::ALL.len());
        for release in Release::ALL {
            let version = release.version();
            assert!(
                version.starts_with(&format!("{}.", release.series())),
                "{release:?} is {version}"
            );
            assert_eq!(Release::of_version(version), Some(release));
        }
        assert_eq!(Release::NEWEST.version(), super::super::NGINX_VERSION);
    }

    #[test]
    fn versions_name_their_series() {
        assert_eq!(Release::of_version("1.22"), Some(Release::V1_22));
        assert_eq!(Release::of_version("1.26.2"), Some(Release::V1_26));
        assert_eq!(Release::of_version("1.28.0"), Some(Release::V1_28));
        for bad in [
            "1.25.1", "1.30", "1.20.2", "1", "1.22.x", "1.22.1.1", "", "1..22", " 1.22",
        ] {
            assert_eq!(Release::of_version(bad), None, "{bad:?}");
        }
        assert_eq!(Release::accepted(), "1.22, 1.24, 1.26 or 1.28");
        let bits: Vec<u8> = Release::ALL.iter().map(|r| r.bit()).collect();
        assert_eq!(bits, [1, 2, 4, 8]);
    }
}
