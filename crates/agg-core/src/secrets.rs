//! Secrets: where they come from and how they are kept out of everything
//! agg writes.
//!
//! A secret (an SMTP password, a database password, the key that signs
//! feedback links, an IMAP password, the web UI's token) comes from an
//! environment variable or from a secrets file — never from a pipeline
//! file, which refers to it as `${NAME}`. The secrets file holds `KEY=VALUE`
//! lines and must be readable by its owner only: a password file anyone on
//! the machine can read is no secret, so agg refuses it rather than use it.
//!
//! Every secret value agg knows of is also registered here, and
//! [`redact`] replaces it with `***` in any text: the CLI passes its log
//! lines and error messages through it, so a message that quotes a URL with
//! its password (a driver's error, a debug log) still does not print it.

use std::borrow::Cow;
use std::path::Path;
use std::sync::RwLock;

/// Why a secrets file was refused. Messages name the file and line, never a
/// value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read the secrets file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the secrets file {path} can be read by other users (mode {mode:03o}); \
         make it private with `chmod 600 {path}`"
    )]
    Permissions { path: String, mode: u32 },
    #[error("the secrets file {path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
}

/// Reads a secrets file: `KEY=VALUE` lines; blank lines and lines starting
/// with `#` are skipped; `export KEY=VALUE` is accepted (so the same file can
/// be sourced by a shell); a value may be wrapped in single or double quotes.
/// The file must not be readable or writable by group or others.
pub fn load_file(path: &Path) -> Result<Vec<(String, String)>, SecretsError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| SecretsError::Read {
        path: shown.clone(),
        source,
    })?;
    if !meta.is_file() {
        return Err(SecretsError::NotAFile { path: shown });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretsError::Permissions { path: shown, mode });
        }
    }
    let text = std::fs::read_to_string(path).map_err(|source| SecretsError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text).map_err(|(line, message)| SecretsError::Syntax {
        path: shown,
        line,
        message,
    })
}

/// Parses `KEY=VALUE` lines; an error is (line number, message without the
/// value).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((k, v)) = line.split_once('=') else {
            return Err((n, "expected KEY=VALUE".into()));
        };
        let k = k.trim();
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((
                n,
                format!("`{k}` is not a variable name (letters, digits and _)"),
            ));
        }
        let v = v.trim();
        let v = match (v.chars().next(), v.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(e)) if v.len() >= 2 && e == q => &v[1..v.len() - 1],
            (Some('"' | '\''), _) => {
                return Err((n, format!("the value of {k} has no closing quote")));
            }
            _ => v,
        };
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Values shorter than this are not redacted: replacing every `a` or `1`
/// in the output would hide everything and protect nothing.
const MIN_LEN: usize = 4;

/// What [`redact`] looks for.
struct Known {
    /// Secrets as given, and their percent-encoded spellings (a password
    /// quoted inside a URL), longest first.
    literal: Vec<String>,
    /// The base64 forms: for each secret, the characters that encode it
    /// whatever bytes come before or after it in the encoded data (see
    /// [`base64_cores`]), in the standard and URL-safe alphabets.
    base64: Vec<String>,
}

static KNOWN: RwLock<Known> = RwLock::new(Known {
    literal: Vec::new(),
    base64: Vec::new(),
});

/// Remembers a secret value so that [`redact`] hides it, in the forms a
/// protocol or a message may carry it in: as given, percent-encoded (a URL,
/// a form) and base64 (SMTP `AUTH PLAIN` sends `\0user\0password` in base64,
/// `AUTH LOGIN` the password alone; HTTP basic auth `user:password`). A
/// server that quotes the command back in an error would otherwise put the
/// credential in agg's output and run history.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let mut k = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for form in std::iter::once(value.to_string()).chain(percent_forms(value)) {
        if !k.literal.contains(&form) {
            k.literal.push(form);
        }
    }
    // Longest first, so a secret containing another is hidden whole.
    k.literal.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for core in base64_cores(value.as_bytes()) {
        if !k.base64.contains(&core) {
            k.base64.push(core);
        }
    }
}

/// The percent-encoded spellings of `value` that differ from it: every
/// byte but the unreserved ones as `%XX` (upper- or lower-case hex), a
/// space also as `+` (form encoding).
fn percent_forms(value: &str) -> Vec<String> {
    let enc = |lower: bool, plus: bool| -> String {
        let mut out = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else if plus && b == b' ' {
                out.push('+');
            } else if lower {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let mut v = Vec::new();
    for form in [
        enc(false, false),
        enc(true, false),
        enc(false, true),
        enc(true, true),
    ] {
        if form != value && !v.contains(&form) {
            v.push(form);
        }
    }
    v
}

const STD_B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 of `data` in `alphabet`, without padding.
fn base64(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(c.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(c.get(2).copied().unwrap_or(0));
        for i in 0..=c.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The base64 characters that stand for `secret` wherever it sits in the
/// encoded data: the secret starts 0, 1 or 2 bytes into a 3-byte group,
/// and for each of those offsets the characters whose 6 bits all come from
/// the secret are the same whatever surrounds it. Any base64 text that
/// encodes the secret (alone, or inside `\0user\0password`) contains one of
/// these.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut cores = Vec::new();
    for alphabet in [STD_B64, URL_B64] {
        for offset in 0..3usize {
            let mut data = vec![0u8; offset];
            data.extend_from_slice(secret);
            let enc = base64(&data, alphabet);
            let (start_bit, end_bit) = (8 * offset, 8 * (offset + secret.len()));
            let first = start_bit.div_ceil(6);
            let last = end_bit / 6; // exclusive
            if last > first {
                let core = enc[first..last].to_string();
                if !cores.contains(&core) {
                    cores.push(core);
                }
            }
        }
    }
    cores
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// The environment variables agg reads secrets from, by name or by suffix
/// (the IMAP kind's `password_env` names its own).
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    matches!(n.as_str(), "AGG_SECRET" | "AGG_UI_TOKEN")
        || ["PASSWORD", "PASS", "PASSWD", "SECRET", "TOKEN", "API_KEY"]
            .iter()
            .any(|s| n.ends_with(&format!("_{s}")) || n == *s)
}

/// Registers the secrets found in the environment: variables with secret
/// names, and the passwords inside URL-valued ones (`AGG_SMTP_URL`,
/// `AGG_DB`, `DATABASE_URL`…).
pub fn register_env() {
    for (k, v) in std::env::vars() {
        if is_secret_name(&k) {
            register(&v);
        }
        if let Some(pw) = url_password(&v) {
            register(&pw);
        }
    }
}

/// The password of a URL such as `smtp://user:pw@host`, raw (as written in
/// the URL); its percent-decoded spelling is registered too, since both
/// can appear in messages.
fn url_password(v: &str) -> Option<String> {
    let u = url::Url::parse(v).ok()?;
    let pw = u.password().filter(|p| !p.is_empty())?;
    let decoded = percent_decode(pw);
    if decoded != pw {
        register(&decoded);
    }
    Some(pw.to_string())
}

/// `%XX` sequences decoded (a `+` stays a `+`: userinfo is not a form).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `url` with its password replaced by `***`, for messages and logs; a
/// string that is not a URL with a password comes back as it is.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `text` with every registered secret replaced by `***`: its literal and
/// percent-encoded forms, and any run of base64 that encodes it.
pub fn redact(text: &str) -> Cow<'_, str> {
    let k = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let has_literal = k.literal.iter().any(|s| text.contains(s.as_str()));
    let has_base64 = k.base64.iter().any(|s| text.contains(s.as_str()));
    if !has_literal && !has_base64 {
        return Cow::Borrowed(text);
    }
    let mut t = text.to_string();
    for s in k.literal.iter() {
        t = t.replace(s.as_str(), "***");
    }
    for core in k.base64.iter() {
        // The whole run of base64 around the core goes: its edges carry
        // bits of the secret too.
        while let Some(at) = t.find(core.as_str()) {
            let b = t.as_bytes();
            let mut start = at;
            while start > 0 && is_base64_char(b[start - 1]) {
                start -= 1;
            }
            let mut end = at + core.len();
            while end < b.len() && is_base64_char(b[end]) {
                end += 1;
            }
            t.replace_range(start..end, "***");
        }
    }
    Cow::Owned(t)
}

/// A writer that redacts registered secrets from what passes through it.
/// Log formatters write each event in one call, so a secret is never split
/// across two writes.
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(s) => {
                self.0.write_all(redact(s).as_bytes())?;
                Ok(buf.len())
            }
            Err(_) => self.0.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_export_and_quotes() {
        let got = parse(
            "# mail\nAGG_SMTP_URL=smtp://u:p%40ss@h:25\n\nexport AGG_SECRET = 'a b=c'\nX=\"q\"\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("AGG_SMTP_URL".into(), "smtp://u:p%40ss@h:25".into()),
                ("AGG_SECRET".into(), "a b=c".into()),
                ("X".into(), "q".into()),
                ("EMPTY".into(), String::new()),
            ]
        );
        let (line, msg) = parse("A=1\nnot a pair\n").unwrap_err();
        assert_eq!((line, msg.as_str()), (2, "expected KEY=VALUE"));
        let (line, msg) = parse("GOOD=1\nPW=\"hunter2\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(parse("1X=2").is_err());
    }

    #[test]
    fn files_others_can_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("agg-secrets-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("secrets.env");
        std::fs::write(&p, "AGG_SECRET=s3cr3t-value\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_file(&p).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_file(&p).unwrap()[0].1, "s3cr3t-value");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(load_file(&p).is_err(), "group-writable is refused too");
        assert!(load_file(&d).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn registered_values_and_url_passwords_are_redacted() {
        register("plain-secret-value");
        assert_eq!(
            redact("key plain-secret-value!"),
            "key ***!",
            "a registered value"
        );
        assert_eq!(
            url_password("smtp://me:p%40ss-word@h:25/x").unwrap(),
            "p%40ss-word"
        );
        assert_eq!(redact("pw is p@ss-word"), "pw is ***", "decoded form too");
        assert_eq!(url_password("https://example.org/a:b@c"), None);
        assert_eq!(url_password("postgres://u@h/db"), None);
        register("ab");
        assert_eq!(redact("ab"), "ab", "too short to hide");
        assert!(is_secret_name("IMAP_PASSWORD") && is_secret_name("AGG_SECRET"));
        assert!(!is_secret_name("PATH") && !is_secret_name("AGG_DB"));
    }

    #[test]
    fn encoded_forms_are_redacted() {
        register("p@ss w/rd-77");
        // Percent-encoded (a URL or a form), either hex case.
        assert_eq!(
            redact("url smtp://u:p%40ss%20w%2Frd-77@h"),
            "url smtp://u:***@h"
        );
        assert_eq!(redact("form pw=p%40ss+w%2frd-77&x"), "form pw=***&x");
        // Base64 alone (AUTH LOGIN), and inside \0user\0password (AUTH
        // PLAIN) with the user name of any length, in both alphabets.
        for user in ["", "a", "ab", "reader", "someone@example.org"] {
            for data in [
                format!("{user}p@ss w/rd-77"),
                format!("\0{user}\0p@ss w/rd-77"),
                format!("{user}:p@ss w/rd-77"),
            ] {
                for alphabet in [STD_B64, URL_B64] {
                    let enc = base64(data.as_bytes(), alphabet);
                    let line = format!("535 5.7.8 rejected: AUTH PLAIN {enc}== (try again)");
                    assert_eq!(
                        redact(&line),
                        "535 5.7.8 rejected: AUTH PLAIN *** (try again)",
                        "{data:?}"
                    );
                }
            }
        }
        // Text that merely shares a few letters stays.
        assert_eq!(redact("AUTH PLAIN dGVzdA=="), "AUTH PLAIN dGVzdA==");
    }

    #[test]
    fn base64_cores_match_an_encoder() {
        // The reference encoding of "\0reader\0secret-pw" (RFC 4648).
        let enc = "AHJlYWRlcgBzZWNyZXQtcHc=";
        assert_eq!(
            base64(b"\0reader\0secret-pw", STD_B64),
            enc.trim_end_matches('=')
        );
        assert!(
            base64_cores(b"secret-pw")
                .iter()
                .any(|c| enc.contains(c.as_str()))
        );
    }

    #[test]
    fn the_log_writer_redacts_each_line() {
        use std::io::Write;
        register("log-line-secret-42");
        let mut w = Redacting(Vec::new());
        w.write_all(b"DEBUG connecting with log-line-secret-42\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(w.0).unwrap(),
            "DEBUG connecting with ***\n"
        );
    }
}
