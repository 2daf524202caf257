//! Signed feedback tokens: the 👍/👎 and follow/mute links of a digest.
//!
//! A token carries an action, its target (an item or a saga id) and an
//! expiry, signed with HMAC-SHA256 under a secret key. `agg serve` verifies
//! it before acting, so a link cannot be forged or edited (a different item,
//! a later expiry), and it stops working once it expires.
//!
//! Format: `base64url(action "." target "." expiry) "." base64url(mac[..16])`.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a token (128 bits).
const MAC_LEN: usize = 16;

/// What a feedback link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// 👍 on an item.
    Like,
    /// 👎 on an item.
    Dislike,
    /// Follow a saga.
    Follow,
    /// Mute a saga.
    Mute,
    /// Stop the digest of a pipeline (List-Unsubscribe); target is 0.
    Unsubscribe,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Like => "like",
            Action::Dislike => "dislike",
            Action::Follow => "follow",
            Action::Mute => "mute",
            Action::Unsubscribe => "unsubscribe",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "like" => Action::Like,
            "dislike" => Action::Dislike,
            "follow" => Action::Follow,
            "mute" => Action::Mute,
            "unsubscribe" => Action::Unsubscribe,
            _ => return None,
        })
    }
}

/// A verified (or to-be-signed) token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub action: Action,
    /// Item id for like/dislike, saga id for follow/mute, 0 for unsubscribe.
    pub target: i64,
    /// Unix seconds after which the token is refused.
    pub expires: i64,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

/// Signs and verifies tokens with one key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn new(key: impl Into<Vec<u8>>) -> Signer {
        Signer { key: key.into() }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(payload);
        m
    }

    /// A keyed digest of `data` for another use of the same secret (the
    /// reader API's login token): 40 hex digits. `purpose` separates the
    /// uses, and the NUL after it keeps a derived value from ever being a
    /// valid link signature (link payloads hold no NUL).
    pub fn derive(&self, purpose: &str, data: &[u8]) -> String {
        let mut m = self.mac(purpose.as_bytes());
        m.update(b"\0");
        m.update(data);
        m.finalize().into_bytes()[..20]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn sign(&self, t: &Token) -> String {
        let payload = format!("{}.{}.{}", t.action.as_str(), t.target, t.expires);
        let tag = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(&tag[..MAC_LEN]))
    }

    /// Checks the signature, then the expiry against `now` (unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Token, TokenError> {
        let (p, m) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = B64.decode(p).map_err(|_| TokenError::Malformed)?;
        let tag = B64.decode(m).map_err(|_| TokenError::Malformed)?;
        if tag.len() != MAC_LEN {
            return Err(TokenError::Malformed);
        }
        self.mac(&payload)
            .verify_truncated_left(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let text = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut parts = text.split('.');
        let (Some(a), Some(t), Some(e), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let tok = Token {
            action: Action::parse(a).ok_or(TokenError::Malformed)?,
            target: t.parse().map_err(|_| TokenError::Malformed)?,
            expires: e.parse().map_err(|_| TokenError::Malformed)?,
        };
        if now > tok.expires {
            return Err(TokenError::Expired);
        }
        Ok(tok)
    }
}

/// The default folder of the key file: `$XDG_DATA_HOME/agg`.
pub fn default_key_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("agg")
}

/// Name of the key file inside the key folder.
pub const KEY_FILE: &str = "feedback.key";

/// The signing key: `AGG_SECRET` when set (and not empty), else the key file
/// in `dir` (created once with 32 random bytes, mode 0600, and reused).
pub fn load_key(dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(s) = std::env::var("AGG_SECRET")
        && !s.is_empty()
    {
        return Ok(s.into_bytes());
    }
    load_key_file(&dir.join(KEY_FILE))
}

/// Reads the key file, creating it (0600) with a fresh random key if missing.
/// An existing key file that group or others can read is refused: anyone
/// who can read the key can forge feedback and unsubscribe links.
pub fn load_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the feedback key file {} can be read by other users (mode {mode:03o}); \
                 make it private with `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => anyhow::bail!("the feedback key file {} is empty", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(hex.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(hex.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let s = std::fs::read_to_string(path)?;
            Ok(s.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_tamper_expire() {
        let s = Signer::new(b"k".to_vec());
        let t = Token {
            action: Action::Like,
            target: 42,
            expires: 1000,
        };
        let tok = s.sign(&t);
        assert_eq!(s.verify(&tok, 999), Ok(t.clone()));
        assert_eq!(s.verify(&tok, 1001), Err(TokenError::Expired));
        assert_eq!(
            Signer::new(b"other".to_vec()).verify(&tok, 0),
            Err(TokenError::BadSignature)
        );
        // Another item, same signature: refused.
        let (_, mac) = tok.split_once('.').unwrap();
        let forged = format!("{}.{mac}", B64.encode("like.43.1000"));
        assert_eq!(s.verify(&forged, 0), Err(TokenError::BadSignature));
        assert_eq!(s.verify("nonsense", 0), Err(TokenError::Malformed));
        assert!(
            tok.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub").join(KEY_FILE);
        let a = load_key_file(&p).unwrap();
        let b = load_key_file(&p).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // Loosened by hand: refused, not used.
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = load_key_file(&p).unwrap_err().to_string();
            assert!(e.contains("chmod 600") && e.contains("644"), "{e}");
        }
    }

    #[test]
    fn replays_verify_alike_so_the_server_must_dedupe() {
        // A token is a bearer credential: verifying it twice gives the same
        // answer, which is why `POST /f/{token}` records each token once
        // (tests/serve.rs checks that a replayed POST changes nothing).
        let s = Signer::new(b"k".to_vec());
        let t = Token {
            action: Action::Mute,
            target: 7,
            expires: 2000,
        };
        let tok = s.sign(&t);
        assert_eq!(s.verify(&tok, 1), s.verify(&tok, 1));
        // Signing is deterministic: the same link in two digests is one token.
        assert_eq!(tok, s.sign(&t));
        // A token cut short, padded, or with its action swapped is refused.
        assert!(s.verify(&tok[..tok.len() - 1], 1).is_err());
        assert!(s.verify(&format!("{tok}A"), 1).is_err());
        let (_, mac) = tok.split_once('.').unwrap();
        let swapped = format!("{}.{mac}", B64.encode("follow.7.2000"));
        assert_eq!(s.verify(&swapped, 1), Err(TokenError::BadSignature));
        let later = format!("{}.{mac}", B64.encode("mute.7.999999"));
        assert_eq!(s.verify(&later, 1), Err(TokenError::BadSignature));
    }
}
