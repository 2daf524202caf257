//! Small helpers shared by agent kinds.

use serde::Deserialize;

/// One value or a list of them: `path: a.xml` and `path: [a.xml, b.xml]` both work.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Writes a file so that readers see the old content or the new, never half
/// of it, and nobody else can redirect the write: see
/// [`agg_core::fsutil::write_atomic`].
pub use agg_core::fsutil::write_atomic;

/// The base URL of a JSON API source (`base_url`, so tests can point it at
/// 127.0.0.1): an http(s) URL, without a trailing slash.
pub fn api_base(given: Option<String>, default: &str) -> Result<String, agg_core::OptionsError> {
    let base = given.unwrap_or_else(|| default.into());
    if !crate::feedpoll::check_url(&base) {
        return Err(agg_core::OptionsError::at(
            &["base_url"],
            format!("`{base}` is not an http(s) URL"),
        ));
    }
    Ok(base.trim_end_matches('/').to_string())
}

/// Fetch limits of a JSON API source: the defaults, with the options a
/// source exposes (`timeout_secs`, `max_bytes`, `user_agent`) applied.
pub fn api_limits(
    timeout_secs: Option<u64>,
    max_bytes: Option<u64>,
    user_agent: Option<String>,
) -> agg_fetch::FetchLimits {
    let d = agg_fetch::FetchLimits::default();
    agg_fetch::FetchLimits {
        timeout_secs: timeout_secs.unwrap_or(d.timeout_secs),
        max_bytes: max_bytes.unwrap_or(d.max_bytes),
        user_agent: user_agent.unwrap_or(d.user_agent),
        ..d
    }
}

/// Reads an `allow_private` list (the SSRF guard's exceptions: host names,
/// addresses, CIDR networks), locating a bad entry.
pub fn allowance(list: &[String]) -> Result<agg_fetch::Allowance, agg_core::OptionsError> {
    agg_fetch::Allowance::parse(list).map_err(|m| {
        agg_core::OptionsError::at(&["allow_private"], m)
            .with_hint("e.g. allow_private: [\"127.0.0.1\", \"192.168.1.0/24\", \"nas.home\"]")
    })
}

/// Durations as people write them (`90m`, `36h`, `7d`, `2w`, `1h 30m`):
/// the one rule of the pipeline file, humantime's syntax.
pub use agg_core::pipeline::parse_duration;

/// Whether `s` can name an environment variable (`[A-Za-z_][A-Za-z0-9_]*`):
/// options that say where a secret comes from (`password_env`,
/// `token_env`) are checked at build time, so a typo is a located error,
/// not a missing secret at run time.
pub fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    /// Someone who can write to the output folder plants symlinks where a
    /// sink writes (issue 20, item 4): at the temporary names the sinks and
    /// the digest used (`<file>.tmp-<pid>`, predictable) and at the output
    /// itself. The file they point to must stay untouched, and the output
    /// must be a regular file with the new content.
    #[test]
    fn planted_symlinks_never_redirect_a_write() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let page = out.join("page.html");
        let pid = std::process::id();
        for name in [
            format!("page.html.tmp-{pid}"),
            format!("page.tmp-{pid}"),
            format!("page.html.html.tmp-{pid}"),
        ] {
            symlink(&victim, out.join(name)).unwrap();
        }
        super::write_atomic(&page, b"new page").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&page).unwrap(), b"new page");

        // A symlink at the output path is replaced, not followed.
        std::fs::remove_file(&page).unwrap();
        symlink(&victim, &page).unwrap();
        super::write_atomic(&page, b"newer page").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            !std::fs::symlink_metadata(&page)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&page).unwrap(), b"newer page");
    }

    #[test]
    fn durations() {
        assert_eq!(
            super::parse_duration("36h"),
            Some(chrono::Duration::hours(36))
        );
        assert_eq!(
            super::parse_duration("2w"),
            Some(chrono::Duration::days(14))
        );
        assert_eq!(
            super::parse_duration("1h 30m"),
            Some(chrono::Duration::minutes(90))
        );
        assert_eq!(super::parse_duration("7"), None, "a unit is needed");
        assert_eq!(super::parse_duration("3 parsecs"), None);
    }
}
