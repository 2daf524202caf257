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

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a secret value so that [`redact`] hides it.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let mut k = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !k.iter().any(|s| s == value) {
        k.push(value.to_string());
        // Longest first, so a secret containing another is hidden whole.
        k.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
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

/// The password of a URL such as `smtp://user:pw@host`, raw and
/// percent-decoded.
fn url_password(v: &str) -> Option<String> {
    let rest = v.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let pw = userinfo.split_once(':')?.1;
    if pw.is_empty() {
        return None;
    }
    // Both spellings can appear in messages.
    let decoded = percent_decode(pw);
    if decoded != pw {
        register(&decoded);
    }
    Some(pw.to_string())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let k = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    if !k.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut t = text.to_string();
    for s in k.iter() {
        t = t.replace(s.as_str(), "***");
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
