//! An embedding cache in front of any [`Embedder`].
//!
//! The store caches embeddings per item; this cache is for everything else
//! that embeds the same texts again and again: the evaluation command (which
//! embeds a whole JSONL file before it can measure anything), benchmarks and
//! tests. It is keyed by (model id, text), so vectors from another model are
//! never returned, and it can be saved to and loaded from a file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::embed::Embedder;
use crate::error::{Result, ScoreError};

/// Wraps an embedder; texts already seen are not embedded again.
pub struct CachingEmbedder<E: Embedder> {
    inner: E,
    map: Mutex<HashMap<[u8; 32], Vec<f32>>>,
    misses: Mutex<u64>,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    model_id: String,
    dim: usize,
    /// hex(sha256(text)) -> base64 LE f32
    entries: HashMap<String, String>,
}

impl<E: Embedder> CachingEmbedder<E> {
    /// An empty cache around `inner`.
    pub fn new(inner: E) -> Self {
        CachingEmbedder {
            inner,
            map: Mutex::new(HashMap::new()),
            misses: Mutex::new(0),
        }
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// How many texts were actually sent to the wrapped embedder so far.
    pub fn misses(&self) -> u64 {
        *self.misses.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self, text: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.inner.model_id().as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
        h.finalize().into()
    }

    /// Loads entries saved by [`save`](CachingEmbedder::save). A missing file
    /// is not an error; a file for another model id is ignored (returns 0).
    /// Returns the number of entries loaded.
    pub fn load(&self, path: &Path) -> Result<usize> {
        let data = match std::fs::read_to_string(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(ScoreError::io(format!("read {}", path.display()), e)),
        };
        let file: CacheFile = serde_json::from_str(&data)
            .map_err(|e| ScoreError::Format(format!("{}: {e}", path.display())))?;
        if file.model_id != self.inner.model_id() || file.dim != self.inner.dim() {
            return Ok(0);
        }
        use base64::Engine as _;
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for (k, v) in file.entries {
            let (Some(key), Ok(bytes)) = (
                hex32(&k),
                base64::engine::general_purpose::STANDARD.decode(v),
            ) else {
                continue;
            };
            if bytes.len() != file.dim * 4 {
                continue;
            }
            let vec = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            map.insert(key, vec);
            n += 1;
        }
        Ok(n)
    }

    /// Writes all cached vectors to `path` (atomically: temp file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        use base64::Engine as _;
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let entries = map
            .iter()
            .map(|(k, v)| {
                let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
                let mut bytes = Vec::with_capacity(v.len() * 4);
                for x in v {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
                (hex, base64::engine::general_purpose::STANDARD.encode(bytes))
            })
            .collect();
        let file = CacheFile {
            model_id: self.inner.model_id().to_string(),
            dim: self.inner.dim(),
            entries,
        };
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_string(&file).map_err(|e| ScoreError::Format(e.to_string()))?;
        std::fs::write(&tmp, json)
            .map_err(|e| ScoreError::io(format!("write {}", tmp.display()), e))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| ScoreError::io(format!("rename to {}", path.display()), e))
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl<E: Embedder> Embedder for CachingEmbedder<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| self.key(t)).collect();
        let mut out: Vec<Option<Vec<f32>>> = {
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| map.get(k).cloned()).collect()
        };
        let todo: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !todo.is_empty() {
            let batch: Vec<&str> = todo.iter().map(|&i| texts[i]).collect();
            let vecs = self.inner.embed(&batch)?;
            *self.misses.lock().unwrap_or_else(|e| e.into_inner()) += todo.len() as u64;
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            for (&i, v) in todo.iter().zip(vecs) {
                map.insert(keys[i], v.clone());
                out[i] = Some(v);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
}
