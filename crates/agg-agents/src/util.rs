//! Small helpers shared by agent kinds.

use std::path::Path;

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
/// of it: a run killed mid-write leaves the previous file in place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp-{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

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

/// Parses durations such as `90m`, `36h`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    match unit.trim() {
        "s" => Some(chrono::Duration::seconds(n)),
        "m" => Some(chrono::Duration::minutes(n)),
        "h" => Some(chrono::Duration::hours(n)),
        "d" => Some(chrono::Duration::days(n)),
        "w" => Some(chrono::Duration::weeks(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(super::parse_duration("7"), None);
        assert_eq!(super::parse_duration("3y"), None);
    }
}
