//! Sentence embeddings: the [`Embedder`] trait and its ONNX Runtime implementation.
//!
//! The model is all-MiniLM-L6-v2 (int8 weights) run by ONNX Runtime through `ort`
//! with `load-dynamic`: the runtime is a shared library found at run time, so the
//! same `agg` binary can use a CPU build or a GPU build of ONNX Runtime, and the
//! build never downloads anything. `scripts/setup-model.sh` puts the three files
//! (runtime, model, tokenizer) in one directory; see [`ModelFiles::locate`].
//!
//! Pipeline per call: tokenize everything (truncated to `max_tokens`), sort by
//! token count so each batch pads to a similar length (dynamic padding: a batch
//! is padded only to its own longest text), run the model per batch, mean-pool
//! the last hidden state over the attention mask, L2-normalise. Cosine
//! similarity between two outputs is then a plain dot product.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ort::environment::Environment;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{OutputSelector, RunOptions, Session};
use ort::value::Tensor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use tracing::{debug, info, warn};

use crate::error::{Result, ScoreError};
use crate::pooled_head::{POOLED_OUTPUT, with_pooled_output};
use crate::runtime::{self, CudaInstall, Driver};

/// File name of the ONNX Runtime library that `scripts/setup-model.sh` installs.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.32.0";
/// File name of the ONNX model in the model directory.
pub const MODEL_FILE: &str = "model.onnx";
/// File name of the optional CPU model (`scripts/setup-model.sh --int8`):
/// `model.onnx` with its matrix products dynamically quantized to int8, run
/// by the CPU provider when [`EmbedConfig::cpu_int8`] is set.
pub const CPU_INT8_MODEL_FILE: &str = "model.int8.onnx";
/// File name of the Hugging Face tokenizer definition in the model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// File name of the WebGPU plugin execution provider (optional; from the
/// `onnxruntime-ep-webgpu` package) looked for in the model directory.
pub const WEBGPU_PLUGIN_FILE: &str = "libonnxruntime_providers_webgpu.so";

/// Something that turns texts into unit-length vectors.
///
/// A trait so that the store, the score agent, search and tests can share one
/// embedder and so that caching wrappers ([`crate::CachingEmbedder`]) compose.
pub trait Embedder: Send + Sync {
    /// Embeds each text; the result has one L2-normalised vector of
    /// [`dim`](Embedder::dim) floats per input, in input order. Empty or odd
    /// texts (emoji only, 100 KB, any script) are valid input.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Length of every vector returned by [`embed`](Embedder::embed).
    fn dim(&self) -> usize;

    /// A version string that changes whenever the vectors would change (other
    /// model file, other truncation). Store it next to cached embeddings and
    /// re-embed when it differs.
    fn model_id(&self) -> &str;
}

/// References and smart pointers to embedders are embedders, so one
/// [`OrtEmbedder`] can be shared (`Arc<OrtEmbedder>`) and wrapped
/// (`CachingEmbedder<&OrtEmbedder>`).
impl<E: Embedder + ?Sized> Embedder for &E {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

impl<E: Embedder + ?Sized> Embedder for std::sync::Arc<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

/// Where to run the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA, then WebGPU, then CPU: the first that works. The log says which.
    #[default]
    Auto,
    /// ONNX Runtime's CPU execution provider.
    Cpu,
    /// ONNX Runtime's CUDA execution provider (needs the `cuda` cargo feature
    /// and an ONNX Runtime GPU build in `ORT_DYLIB_PATH`).
    Cuda,
    /// The WebGPU plugin execution provider (`libonnxruntime_providers_webgpu.so`).
    Webgpu,
}

impl FromStr for Device {
    type Err = ScoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "webgpu" => Ok(Device::Webgpu),
            other => Err(ScoreError::Invalid(format!(
                "unknown device `{other}` (expected auto, cpu, cuda or webgpu)"
            ))),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Webgpu => "webgpu",
        })
    }
}

/// Options for [`OrtEmbedder::new`]. `Default` is what `agg` uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Directory with `model.onnx`, `tokenizer.json` (and usually the runtime).
    /// `None`: `AGG_MODEL_DIR`, else `$XDG_DATA_HOME/agg/models`.
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime library. `None`: `ORT_DYLIB_PATH`, else
    /// `<model_dir>/libonnxruntime.so.1.32.0`.
    pub ort_dylib: Option<PathBuf>,
    /// The WebGPU plugin library. `None`: `AGG_WEBGPU_EP_PATH`, else
    /// `<model_dir>/libonnxruntime_providers_webgpu.so` if present.
    pub webgpu_plugin: Option<PathBuf>,
    /// Execution provider choice.
    pub device: Device,
    /// Tokens per text including `[CLS]`/`[SEP]`; longer texts are cut (at
    /// most 512). An item's text is its title, then its body
    /// ([`item_text`]), so the cap keeps the whole title and the lead of the
    /// body: titles carry most of the signal. 64 instead of the model's
    /// training length of 256 costs less than 0.005 dev AUC and makes CPU
    /// scoring of real feed texts several times faster (benches/score). The
    /// same cap on every device, so CPU and GPU vectors agree and a cache
    /// stays valid when the device changes.
    pub max_tokens: usize,
    /// Texts per model call on the CPU. Small batches of similar length pad
    /// less and stay in cache; 16 beat 64 on the feed corpus (benches/score).
    pub batch_size: usize,
    /// Texts per model call on a GPU (CUDA, WebGPU), which needs large batches
    /// to be busy; its padded-token budget is this times `max_tokens`.
    pub gpu_batch_size: usize,
    /// Padded tokens per model call (texts × the longest text's tokens). Memory
    /// of a call grows with this (attention alone is heads × len² per text), so
    /// a batch of long articles is cut smaller than a batch of headlines: 64
    /// texts of 256 tokens peaked near 1.8 GB on the hostile corpus.
    pub batch_tokens: usize,
    /// Sort texts by token count before batching so batches pad less.
    /// Results are returned in input order either way.
    pub sort_by_length: bool,
    /// Intra-op threads for the CPU provider; `None`: one per core the process
    /// may use (`available_parallelism`, which also counts a container's CPU
    /// quota; ONNX Runtime's own default counts physical cores of the host).
    pub intra_threads: Option<usize>,
    /// ONNX Runtime's CPU memory arena. With it the runtime keeps the largest
    /// batch's buffers for the life of the session (the peak never goes
    /// down); without it each run allocates and frees through the system
    /// allocator, so the resident size follows the current batch.
    pub cpu_arena: bool,
    /// ONNX Runtime's memory pattern planning (pre-allocates one block per
    /// input shape seen); with dynamic padding every batch has a new shape,
    /// so the plans are rarely reused and only add to the peak.
    pub memory_pattern: bool,
    /// Pool the token vectors inside the model graph (a head appended at
    /// load, see `pooled_head`) instead of on the host. `None`: on a GPU
    /// device yes, because copying every token vector off the device cost
    /// more than the transformer at short lengths; on the CPU no, because
    /// there is no copy to save and the CPU path is measured as it is.
    pub device_pooling: Option<bool>,
    /// On the CPU, run `model.int8.onnx` (int8 matrix products, made by
    /// `scripts/setup-model.sh --int8`) instead of `model.onnx`: ~2.5× the
    /// items/s on feed texts, less memory, dev AUC within 0.002. Off by
    /// default because its vectors are at cosine ~0.99 of the fp32 model's
    /// and the worst saga dev stream lost 0.019 BCubed F1 with them
    /// (benches/score). Its own [`model_id`](Embedder::model_id), so stored
    /// vectors of the two are never mixed.
    pub cpu_int8: bool,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            model_dir: None,
            ort_dylib: None,
            webgpu_plugin: None,
            device: Device::Auto,
            max_tokens: 64,
            batch_size: 16,
            gpu_batch_size: 256,
            batch_tokens: 1024,
            sort_by_length: true,
            intra_threads: None,
            cpu_arena: true,
            memory_pattern: true,
            device_pooling: None,
            cpu_int8: false,
        }
    }
}

/// The default model directory: `AGG_MODEL_DIR`, else
/// `$XDG_DATA_HOME/agg/models`, else `$HOME/.local/share/agg/models` — the same
/// rule as `scripts/setup-model.sh`.
pub fn default_model_dir() -> PathBuf {
    if let Some(d) = env_path("AGG_MODEL_DIR") {
        return d;
    }
    let data = env_path("XDG_DATA_HOME").unwrap_or_else(|| {
        env_path("HOME")
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share")
    });
    data.join("agg/models")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The resolved paths of the files the embedder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The model directory.
    pub dir: PathBuf,
    /// `model.onnx`.
    pub model: PathBuf,
    /// `model.int8.onnx`, if the setup script made it.
    pub cpu_int8_model: Option<PathBuf>,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// The ONNX Runtime shared library.
    pub ort_dylib: PathBuf,
}

impl ModelFiles {
    /// Resolves and checks the files: `model_dir` (else [`default_model_dir`]),
    /// `ort_dylib` (else `ORT_DYLIB_PATH`, else the library in the model dir).
    /// All missing files are reported in one [`ScoreError::MissingFiles`] that
    /// names `scripts/setup-model.sh`.
    pub fn locate(model_dir: Option<&Path>, ort_dylib: Option<&Path>) -> Result<Self> {
        let dir = model_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(default_model_dir);
        let ort = ort_dylib
            .map(Path::to_path_buf)
            .or_else(|| env_path("ORT_DYLIB_PATH"))
            .unwrap_or_else(|| dir.join(ORT_LIB_NAME));
        let int8 = dir.join(CPU_INT8_MODEL_FILE);
        let files = ModelFiles {
            model: dir.join(MODEL_FILE),
            cpu_int8_model: int8.is_file().then_some(int8),
            tokenizer: dir.join(TOKENIZER_FILE),
            ort_dylib: ort,
            dir,
        };
        let mut missing = Vec::new();
        for (p, name) in [
            (&files.model, MODEL_FILE),
            (&files.tokenizer, TOKENIZER_FILE),
        ] {
            if !p.is_file() {
                missing.push(name.to_string());
            }
        }
        if !files.ort_dylib.is_file() {
            missing.push(files.ort_dylib.display().to_string());
        }
        if missing.is_empty() {
            Ok(files)
        } else {
            Err(ScoreError::MissingFiles {
                dir: files.dir,
                missing,
            })
        }
    }
}

/// ONNX Runtime allows one environment per process and one runtime library per
/// process, so the environment is created once and shared by every embedder.
static ORT_ENV: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);
/// Plugin libraries already registered with the environment (registering twice fails).
static REGISTERED_PLUGINS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static PROFILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// The runtime library this process has loaded, if any.
fn loaded_runtime() -> Option<PathBuf> {
    let guard = ORT_ENV.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().map(|(p, _)| p.clone())
}

/// A runtime library to load (`None`: the CPU build in the model directory)
/// and the devices ruled out on the way, with why.
type RuntimeChoice = (Option<PathBuf>, Vec<(Device, String)>);

/// The runtime library to load for `device`, and why GPU devices were ruled
/// out on the way (for `auto`, and for `agg doctor`).
///
/// An explicit library (`ort_dylib`, `ORT_DYLIB_PATH`) or one this process
/// already loaded always wins: the user manages that library's dependencies.
/// Otherwise `auto` and `cuda` take the GPU build from
/// `<model dir>/cuda` when it is installed and the NVIDIA driver sees a
/// device (preloading its NVIDIA libraries); everything else takes the CPU
/// build in the model directory.
fn choose_runtime(dir: &Path, explicit: Option<&Path>, device: Device) -> Result<RuntimeChoice> {
    if let Some(p) = explicit
        .map(Path::to_path_buf)
        .or_else(|| env_path("ORT_DYLIB_PATH"))
    {
        return Ok((Some(p), Vec::new()));
    }
    if let Some(p) = loaded_runtime() {
        return Ok((Some(p), Vec::new()));
    }
    if !matches!(device, Device::Auto | Device::Cuda) {
        return Ok((None, Vec::new()));
    }
    let cuda_unavailable = |reason: String| -> Result<RuntimeChoice> {
        if device == Device::Cuda {
            return Err(ScoreError::DeviceUnavailable {
                device: "cuda".into(),
                reason,
            });
        }
        // The CPU build, else (a model dir with only the GPU install) the
        // GPU build, which runs on the CPU as well: its CUDA provider library
        // is only opened when the CUDA provider is asked for.
        let fallback = match CudaInstall::find(dir) {
            Ok(Some(i)) if !dir.join(ORT_LIB_NAME).is_file() => Some(i.runtime),
            _ => None,
        };
        Ok((fallback, vec![(Device::Cuda, reason)]))
    };
    if !runtime::cuda_compiled() {
        return cuda_unavailable(
            "this build of agg was compiled without the `cuda` feature (it is in the default \
             build: cargo build --release)"
                .into(),
        );
    }
    let install = match CudaInstall::find(dir) {
        Ok(Some(i)) => i,
        Ok(None) => {
            return cuda_unavailable(format!(
                "the CUDA runtime is not installed in {}: run `scripts/setup-model.sh --gpu cuda`",
                dir.join(runtime::CUDA_SUBDIR).display()
            ));
        }
        Err(e) => return cuda_unavailable(e),
    };
    match runtime::nvidia_driver() {
        Driver::Ready { cuda, .. } if install.cuda_major > 0 && cuda.0 < install.cuda_major => {
            cuda_unavailable(format!(
                "{}; the installed ONNX Runtime needs CUDA {}: update the NVIDIA driver",
                runtime::nvidia_driver().describe(),
                install.cuda_major
            ))
        }
        Driver::Ready { .. } => match install.preload() {
            Ok(()) => Ok((Some(install.runtime), Vec::new())),
            Err(e) => cuda_unavailable(format!(
                "{e}; run `scripts/setup-model.sh --gpu cuda` again"
            )),
        },
        other => cuda_unavailable(format!(
            "{}. Install the NVIDIA driver (CUDA {} or newer) if this machine has an NVIDIA GPU",
            other.describe(),
            install.cuda_major
        )),
    }
}

fn environment(dylib: &Path) -> Result<Environment> {
    let mut guard = ORT_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let canonical = dylib.canonicalize().unwrap_or_else(|_| dylib.to_path_buf());
    if let Some((path, env)) = guard.as_ref() {
        if *path != canonical {
            return Err(ScoreError::Runtime {
                path: canonical,
                reason: format!(
                    "this process already loaded ONNX Runtime from {}; one runtime per process",
                    path.display()
                ),
            });
        }
        return Ok(env.clone());
    }
    let runtime_err = |reason: String| ScoreError::Runtime {
        path: canonical.clone(),
        reason,
    };
    let builder = ort::init_from(&canonical).map_err(|e| runtime_err(e.to_string()))?;
    let env = builder
        .with_name("agg")
        .with_telemetry(false)
        .build()
        .map_err(|e| runtime_err(e.to_string()))?;
    // ONNX Runtime's own messages go to `tracing` (ort's `tracing` feature);
    // its info level is chatty (arena growth etc.), so keep warnings and up.
    env.set_log_level(ort::logging::LogLevel::Warning);
    info!(path = %canonical.display(), "loaded ONNX Runtime");
    *guard = Some((canonical, env.clone()));
    Ok(env)
}

/// The ONNX Runtime embedder. Cheap to share (`&self` methods; internally one
/// session behind a mutex, because a session run needs exclusive access).
pub struct OrtEmbedder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    input_names: InputNames,
    dim: usize,
    model_id: String,
    provider: String,
    placement: BTreeMap<String, usize>,
    cfg: EmbedConfig,
    files: ModelFiles,
    /// The model file this session runs (`model.onnx` or the CPU's int8 one).
    model: PathBuf,
    skipped: Vec<(Device, String)>,
    /// The session has the pooling head: runs fetch only its output.
    pooled: bool,
    /// The session runs the int8 CPU model (one text per call).
    int8: bool,
    /// More sessions of the int8 model, each with its share of the cores
    /// (one each on up to four), which embed texts beside the first session
    /// (see [`INT8_SESSIONS`]); empty otherwise.
    more: Vec<Mutex<Session>>,
}

/// Most sessions the int8 CPU model runs side by side. One text per call
/// keeps each call's matrices small, and ONNX Runtime's threads then wait on
/// one another more than they compute: on 2 cores two one-thread sessions
/// embedded 345 feed texts/s against 210 for one two-thread session
/// (benches/score). Each session holds its own copy of the model (~40 MB),
/// hence the cap.
const INT8_SESSIONS: usize = 4;

#[derive(Debug, Clone)]
struct InputNames {
    ids: String,
    mask: String,
    type_ids: Option<String>,
    output: String,
}

impl fmt::Debug for OrtEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrtEmbedder")
            .field("model_id", &self.model_id)
            .field("provider", &self.provider)
            .field("placement", &self.placement)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl OrtEmbedder {
    /// Loads runtime, tokenizer and model, picks the execution provider, and
    /// runs one warm-up batch (with ONNX Runtime profiling on) to learn where
    /// the graph nodes were placed. Everything that can be wrong with the setup
    /// is reported here, once, as a [`ScoreError`].
    pub fn new(cfg: EmbedConfig) -> Result<Self> {
        if cfg.max_tokens < 2 || cfg.max_tokens > 512 {
            return Err(ScoreError::Invalid(format!(
                "max_tokens must be 2..=512, got {}",
                cfg.max_tokens
            )));
        }
        if cfg.batch_size == 0 {
            return Err(ScoreError::Invalid("batch_size must be at least 1".into()));
        }
        let dir = cfg.model_dir.clone().unwrap_or_else(default_model_dir);
        let (dylib, mut skipped) = choose_runtime(&dir, cfg.ort_dylib.as_deref(), cfg.device)?;
        let files = ModelFiles::locate(Some(&dir), dylib.as_deref())?;
        let tokenizer = load_tokenizer(&files.tokenizer, cfg.max_tokens)?;
        let env = environment(&files.ort_dylib)?;
        let open = |device: Device| {
            OrtEmbedder::open(&env, &files, tokenizer.clone(), cfg.clone(), device)
        };
        match cfg.device {
            Device::Auto => {
                for device in [Device::Cuda, Device::Webgpu] {
                    if skipped.iter().any(|(d, _)| *d == device) {
                        continue;
                    }
                    match open(device) {
                        Ok(mut e) => {
                            e.skipped = skipped;
                            return Ok(e);
                        }
                        Err(ScoreError::DeviceUnavailable { reason, .. }) => {
                            skipped.push((device, reason));
                        }
                        Err(e) => return Err(e),
                    }
                }
                for (device, reason) in &skipped {
                    info!(%device, %reason, "device: auto, {device} not available");
                }
                let mut e = open(Device::Cpu)?;
                e.skipped = skipped;
                Ok(e)
            }
            device => open(device),
        }
    }

    /// Builds the session for one concrete device, warms it up and checks
    /// where the nodes ran. On a GPU device every failure is
    /// [`ScoreError::DeviceUnavailable`], so that `auto` can move on.
    fn open(
        env: &Environment,
        files: &ModelFiles,
        tokenizer: Tokenizer,
        cfg: EmbedConfig,
        device: Device,
    ) -> Result<Self> {
        let on_cpu = matches!(device, Device::Cpu | Device::Auto);
        let model = match &files.cpu_int8_model {
            Some(int8) if on_cpu && cfg.cpu_int8 => int8.clone(),
            None if on_cpu && cfg.cpu_int8 => {
                warn!(
                    "cpu_int8 is set but {CPU_INT8_MODEL_FILE} is not in {}; running \
                     {MODEL_FILE} (make it with scripts/setup-model.sh --int8)",
                    files.dir.display()
                );
                files.model.clone()
            }
            _ => files.model.clone(),
        };
        let int8 = Some(&model) == files.cpu_int8_model.as_ref();
        // The int8 model: sessions side by side, unless threads were set.
        let (sessions, session_cfg) = match (int8, cfg.intra_threads) {
            (true, None) => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let n = cores.clamp(1, INT8_SESSIONS);
                let cfg = EmbedConfig {
                    intra_threads: Some((cores / n).max(1)),
                    ..cfg.clone()
                };
                (n, cfg)
            }
            _ => (1, cfg.clone()),
        };
        let (session, pooled) = build_session(env, &model, files, &session_cfg, device, true)?;
        let input_names = check_signature(&session, &model)?;
        let more = (1..sessions)
            .map(|_| {
                build_session(env, &model, files, &session_cfg, device, false)
                    .map(|(s, _)| Mutex::new(s))
            })
            .collect::<Result<Vec<_>>>()?;
        let provider = match device {
            Device::Cuda => "cuda",
            Device::Webgpu => "webgpu",
            Device::Cpu | Device::Auto => "cpu",
        };
        let mut emb = OrtEmbedder {
            session: Mutex::new(session),
            tokenizer,
            input_names,
            dim: 0,
            model_id: String::new(),
            provider: provider.to_string(),
            placement: BTreeMap::new(),
            cfg,
            files: files.clone(),
            int8,
            more,
            model,
            skipped: Vec::new(),
            pooled,
        };

        // Warm-up: proves the model runs, tells us the output width, and (with
        // profiling) which provider each node ran on.
        let warm = emb
            .embed_batch_raw(&["agg warm-up: is this model alive?", ""])
            .map_err(|e| {
                if provider == "cpu" {
                    ScoreError::Model {
                        path: emb.model.clone(),
                        reason: e.to_string(),
                    }
                } else {
                    ScoreError::DeviceUnavailable {
                        device: provider.into(),
                        reason: format!("the first batch failed: {e}"),
                    }
                }
            })?;
        emb.dim = warm.first().map(Vec::len).unwrap_or(0);
        if emb.dim == 0 {
            return Err(ScoreError::Model {
                path: emb.model.clone(),
                reason: "the model returned empty embeddings".into(),
            });
        }
        let model_digest = file_digest(&emb.model)?;
        emb.model_id = format!(
            "minilm-l6-v2:{}:t{}:d{}",
            &model_digest[..12],
            emb.cfg.max_tokens,
            emb.dim
        );
        emb.placement = emb.end_profiling();
        emb.check_placement(provider)?;
        Ok(emb)
    }

    /// Convenience: [`OrtEmbedder::new`] with defaults and the given device.
    pub fn with_device(device: Device) -> Result<Self> {
        OrtEmbedder::new(EmbedConfig {
            device,
            ..EmbedConfig::default()
        })
    }

    /// The execution provider actually used: `cpu`, `cuda` or `webgpu`.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Whether the token vectors are pooled inside the graph (the pooling
    /// head, [`EmbedConfig::device_pooling`]) rather than on the host.
    pub fn pools_on_device(&self) -> bool {
        self.pooled
    }

    /// Graph nodes per ONNX Runtime execution provider, as observed in the
    /// warm-up run (e.g. `{"CPUExecutionProvider": 40, "CUDAExecutionProvider": 239}`).
    /// Empty if profiling output could not be read.
    pub fn placement(&self) -> &BTreeMap<String, usize> {
        &self.placement
    }

    /// For `device: auto`: the devices tried before the one in use and why
    /// each was not available (each reason says what to do about it).
    pub fn skipped(&self) -> &[(Device, String)] {
        &self.skipped
    }

    /// The model file this embedder runs: `model.onnx`, or on the CPU
    /// `model.int8.onnx` when [`EmbedConfig::cpu_int8`] is set and the file
    /// is there.
    pub fn model_path(&self) -> &Path {
        &self.model
    }

    /// The files in use.
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// The configuration in use.
    pub fn config(&self) -> &EmbedConfig {
        &self.cfg
    }

    fn end_profiling(&self) -> BTreeMap<String, usize> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let path = match session.end_profiling() {
            Ok(p) => PathBuf::from(p),
            Err(e) => {
                debug!(error = %e, "no profile");
                return BTreeMap::new();
            }
        };
        let counts = std::fs::read_to_string(&path)
            .ok()
            .map(|s| count_nodes_per_provider(&s))
            .unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        counts
    }

    /// Logs the placement and refuses a GPU session on which no node runs on
    /// the GPU: a silent CPU fallback is not a GPU run.
    fn check_placement(&self, requested: &str) -> Result<()> {
        let total: usize = self.placement.values().sum();
        let on = |needle: &str| -> usize {
            self.placement
                .iter()
                .filter(|(k, _)| k.to_ascii_lowercase().contains(needle))
                .map(|(_, v)| *v)
                .sum()
        };
        let placed = match requested {
            "cuda" => on("cuda"),
            "webgpu" => on("webgpu"),
            _ => on("cpu"),
        };
        info!(
            provider = requested,
            nodes_on_provider = placed,
            nodes_total = total,
            placement = ?self.placement,
            model_id = %self.model_id,
            "embedding model ready on {requested}: {placed} of {total} graph nodes there"
        );
        if requested != "cpu" && total > 0 && placed == 0 {
            return Err(ScoreError::DeviceUnavailable {
                device: requested.into(),
                reason: format!(
                    "the session was created but every node ran elsewhere ({:?})",
                    self.placement
                ),
            });
        }
        if total == 0 {
            warn!("could not read ONNX Runtime's profile; node placement unknown");
        }
        Ok(())
    }

    /// Tokenizes, pads to the longest text of this batch, runs the model and
    /// pools. `texts` is one batch (callers split).
    fn embed_batch_raw(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encs = self.encode(texts)?;
        let refs: Vec<&[u32]> = encs.iter().map(|e| e.as_slice()).collect();
        self.run_batch(&refs)
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        // Cut very long inputs before tokenizing: only the first `max_tokens`
        // tokens are used, and no token is longer than ~32 bytes in practice,
        // so tokenizing 100 KB to keep 256 tokens would be wasted work.
        let limit = self.cfg.max_tokens * 32;
        let cut: Vec<&str> = texts.iter().map(|t| prefix_on_char(t, limit)).collect();
        let encs = self
            .tokenizer
            .encode_batch(cut, true)
            .map_err(|e| ScoreError::Inference(format!("tokenizer: {e}")))?;
        Ok(encs.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    fn run_batch(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        self.run_batch_on(&self.session, ids)
    }

    /// Embeds every text on its own, spread over the int8 model's sessions;
    /// results in input order.
    fn run_each_alone(&self, encs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut out = vec![Vec::new(); encs.len()];
        std::thread::scope(|s| {
            let workers: Vec<_> = std::iter::once(&self.session)
                .chain(&self.more)
                .map(|session| {
                    let next = &next;
                    s.spawn(move || -> Result<Vec<(usize, Vec<f32>)>> {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(ids) = encs.get(i) else {
                                return Ok(done);
                            };
                            let v = self.run_batch_on(session, &[ids.as_slice()])?;
                            done.extend(v.into_iter().map(|v| (i, v)));
                        }
                    })
                })
                .collect();
            for w in workers {
                let done = w
                    .join()
                    .map_err(|_| ScoreError::Inference("an embedding thread panicked".into()))??;
                for (i, v) in done {
                    out[i] = v;
                }
            }
            Ok(out)
        })
    }

    fn run_batch_on(&self, session: &Mutex<Session>, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let b = ids.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let l = ids.iter().map(|x| x.len()).max().unwrap_or(0).max(1);
        let mut input_ids = vec![0i64; b * l];
        let mut mask = vec![0i64; b * l];
        for (row, toks) in ids.iter().enumerate() {
            for (j, &t) in toks.iter().enumerate() {
                input_ids[row * l + j] = i64::from(t);
                mask[row * l + j] = 1;
            }
        }
        let shape = [b, l];
        let t_ids = Tensor::from_array((shape, input_ids)).map_err(inf)?;
        let t_mask = Tensor::from_array((shape, mask.clone())).map_err(inf)?;
        let names = &self.input_names;
        let mut inputs: Vec<(String, ort::session::SessionInputValue<'_>)> = vec![
            (names.ids.clone(), t_ids.into()),
            (names.mask.clone(), t_mask.into()),
        ];
        if let Some(tt) = &names.type_ids {
            let t_type = Tensor::from_array((shape, vec![0i64; b * l])).map_err(inf)?;
            inputs.push((tt.clone(), t_type.into()));
        }
        // Fetch only the head's output: the token vectors stay on the device.
        let only_pooled = if self.pooled {
            Some(
                RunOptions::new()
                    .map_err(inf)?
                    .with_outputs(OutputSelector::no_default().with(POOLED_OUTPUT)),
            )
        } else {
            None
        };
        let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
        let (outputs, output) = if let Some(options) = &only_pooled {
            let outputs = session.run_with_options(inputs, options).map_err(inf)?;
            (outputs, POOLED_OUTPUT)
        } else {
            (session.run(inputs).map_err(inf)?, names.output.as_str())
        };
        let out = outputs
            .get(output)
            .ok_or_else(|| ScoreError::Inference(format!("no output `{output}`")))?;
        let (oshape, data) = out.try_extract_tensor::<f32>().map_err(inf)?;
        let dims: Vec<i64> = oshape.iter().copied().collect();
        match dims.as_slice() {
            // [batch, 1, hidden]: the pooling head's masked sums.
            [ob, 1, h] if self.pooled && *ob as usize == b => {
                Ok(normalized_rows(data, *h as usize))
            }
            // [batch, seq, hidden]: token embeddings, mean-pool over the mask.
            [ob, ol, h] if *ob as usize == b && *ol as usize == l => {
                let h = *h as usize;
                Ok(mean_pool(data, &mask, b, l, h))
            }
            // [batch, hidden]: the model pools itself.
            [ob, h] if *ob as usize == b => Ok(normalized_rows(data, *h as usize)),
            other => Err(ScoreError::Inference(format!(
                "unexpected output shape {other:?} for a batch of {b}x{l}"
            ))),
        }
    }
}

/// Where each batch ends, for texts of token counts `lens` taken in order: at
/// most `max_texts` texts, and at most `max_tokens` once padded to the
/// batch's longest text (a text longer than the budget goes alone).
fn batch_ends(lens: &[usize], max_texts: usize, max_tokens: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut n, mut longest) = (0usize, 0usize);
    for (i, &len) in lens.iter().enumerate() {
        let wider = longest.max(len);
        if n > 0 && (n == max_texts.max(1) || (n + 1) * wider > max_tokens) {
            ends.push(i);
            (n, longest) = (0, 0);
        }
        n += 1;
        longest = longest.max(len);
    }
    if n > 0 {
        ends.push(lens.len());
    }
    ends
}

fn inf<E: fmt::Display>(e: E) -> ScoreError {
    ScoreError::Inference(e.to_string())
}

/// Texts tokenized at a time by [`OrtEmbedder::embed`]. The tokenizer's
/// encodings (ids, offsets, token strings) cost a few hundred bytes per
/// token, so tokenizing 20,000 articles at once would hold ~0.4 GB; chunks
/// keep that bounded whatever the number of texts, and 1,024 texts are still
/// enough for sorting by length to leave little padding.
const TOKENIZE_CHUNK: usize = 1024;

impl Embedder for OrtEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        if self.provider == "cpu" || texts.len() <= TOKENIZE_CHUNK {
            for chunk in texts.chunks(TOKENIZE_CHUNK) {
                out.extend(self.embed_encoded(self.encode(chunk)?)?);
            }
            return Ok(out);
        }
        // On a GPU the host's cores are idle while the device runs a batch:
        // tokenize the next chunk meanwhile (one chunk ahead, so the memory
        // bound of chunking holds). On the CPU the cores are the model's.
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            s.spawn(move || {
                for chunk in texts.chunks(TOKENIZE_CHUNK) {
                    // A closed channel: the consumer failed and stopped.
                    if tx.send(self.encode(chunk)).is_err() {
                        break;
                    }
                }
            });
            for encs in rx {
                out.extend(self.embed_encoded(encs?)?);
            }
            Ok(out)
        })
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}

impl OrtEmbedder {
    /// Embeds up to [`TOKENIZE_CHUNK`] tokenized texts: sort by length,
    /// batch, run, pool; results in input order.
    fn embed_encoded(&self, encs: Vec<Vec<u32>>) -> Result<Vec<Vec<f32>>> {
        if self.int8 && !self.more.is_empty() {
            return self.run_each_alone(&encs);
        }
        let mut order: Vec<usize> = (0..encs.len()).collect();
        if self.cfg.sort_by_length {
            order.sort_by_key(|&i| encs[i].len());
        }
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); encs.len()];
        let lens: Vec<usize> = order.iter().map(|&i| encs[i].len()).collect();
        let (batch, tokens) = if self.provider == "cpu" && self.int8 {
            // The int8 model quantizes activations with one scale per call,
            // from the whole batch's range, so a text's vector would depend on
            // the texts it was batched with (cosine 0.999 instead of 1): one
            // text per call keeps a vector a function of its text alone, as
            // the cache and the shown reasons assume, and pads nothing. (With
            // more than one core the texts go to several one-thread sessions
            // instead, `run_each_alone`, which is faster still.)
            (1, self.cfg.max_tokens)
        } else if self.provider == "cpu" {
            (self.cfg.batch_size, self.cfg.batch_tokens)
        } else {
            let b = self.cfg.gpu_batch_size.max(1);
            (b, b * self.cfg.max_tokens)
        };
        let mut start = 0;
        for end in batch_ends(&lens, batch, tokens) {
            let chunk = &order[start..end];
            start = end;
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| encs[i].as_slice()).collect();
            let vecs = self.run_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vecs) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer> {
    let err = |reason: String| ScoreError::Tokenizer {
        path: path.to_path_buf(),
        reason,
    };
    let mut tok = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    // The shipped tokenizer.json pads every text to 128 tokens and truncates at
    // 128; we pad per batch ourselves and truncate at `max_tokens`.
    tok.with_padding(None);
    tok.with_truncation(Some(tokenizers::TruncationParams {
        max_length: max_tokens,
        ..Default::default()
    }))
    .map_err(|e| err(e.to_string()))?;
    Ok(tok)
}

fn file_digest(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).map_err(|e| ScoreError::io(format!("read {}", path.display()), e))?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The session for `device`, and whether it has the pooling head.
/// `profile`: record where nodes ran (the first session of an embedder,
/// whose warm-up batch reads the profile).
fn build_session(
    env: &Environment,
    model: &Path,
    files: &ModelFiles,
    cfg: &EmbedConfig,
    device: Device,
    profile: bool,
) -> Result<(Session, bool)> {
    let model_err = |reason: String| ScoreError::Model {
        path: model.to_path_buf(),
        reason,
    };
    let mut builder = Session::builder(env)
        .map_err(|e| model_err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| model_err(e.to_string()))?;
    let threads = cfg.intra_threads.or_else(|| {
        std::thread::available_parallelism()
            .ok()
            .map(std::num::NonZeroUsize::get)
    });
    if let Some(n) = threads {
        builder = builder
            .with_intra_threads(n)
            .map_err(|e| model_err(e.to_string()))?;
    }
    if !cfg.memory_pattern {
        builder = builder
            .with_memory_pattern(false)
            .map_err(|e| model_err(e.to_string()))?;
    }
    if !cfg.cpu_arena {
        builder = builder
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(|e| model_err(e.to_string()))?;
    }
    if profile {
        let seq = PROFILE_SEQ.fetch_add(1, Ordering::Relaxed);
        let prefix =
            std::env::temp_dir().join(format!("agg-ort-profile-{}-{seq}", std::process::id()));
        builder = builder
            .with_profiling(&prefix)
            .map_err(|e| model_err(e.to_string()))?;
    }
    builder = match device {
        Device::Cpu | Device::Auto => builder,
        Device::Cuda => add_cuda(builder)?,
        Device::Webgpu => add_webgpu(env, builder, files, cfg)?,
    };
    let gpu = matches!(device, Device::Cuda | Device::Webgpu);
    if cfg.device_pooling.unwrap_or(gpu) {
        // The head names the standard export's tensors; a model with other
        // names fails to load with it and is loaded as it is, pooled on the host.
        let bytes = std::fs::read(model).map_err(|e| model_err(e.to_string()))?;
        let headed = with_pooled_output(&bytes, "attention_mask", "last_hidden_state");
        drop(bytes);
        match builder.commit_from_memory(&headed) {
            Ok(session) => return Ok((session, true)),
            Err(e) => {
                warn!(error = %e, "the model did not take the pooling head; pooling on the host")
            }
        }
    }
    let session = builder.commit_from_file(model).map_err(|e| {
        if gpu {
            ScoreError::DeviceUnavailable {
                device: device.to_string(),
                reason: e.to_string(),
            }
        } else {
            model_err(e.to_string())
        }
    })?;
    Ok((session, false))
}

#[cfg(feature = "cuda")]
fn add_cuda(builder: SessionBuilder) -> Result<SessionBuilder> {
    use ort::ep::ExecutionProvider;
    let unavailable = |reason: String| ScoreError::DeviceUnavailable {
        device: "cuda".into(),
        reason,
    };
    match ort::ep::CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Err(unavailable(
                "the loaded ONNX Runtime has no CUDA execution provider; point ORT_DYLIB_PATH at an \
                 onnxruntime-gpu build (libonnxruntime.so from the onnxruntime-gpu wheel)"
                    .into(),
            ));
        }
        Err(e) => return Err(unavailable(e.to_string())),
    }
    builder
        .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
        .map_err(|e| unavailable(e.to_string()))
}

#[cfg(not(feature = "cuda"))]
fn add_cuda(_builder: SessionBuilder) -> Result<SessionBuilder> {
    Err(ScoreError::DeviceUnavailable {
        device: "cuda".into(),
        reason: "this build of agg was compiled without the `cuda` feature \
                 (cargo build --features agg-score/cuda)"
            .into(),
    })
}

fn add_webgpu(
    env: &Environment,
    builder: SessionBuilder,
    files: &ModelFiles,
    cfg: &EmbedConfig,
) -> Result<SessionBuilder> {
    use ort::memory::DeviceType;
    let unavailable = |reason: String| ScoreError::DeviceUnavailable {
        device: "webgpu".into(),
        reason,
    };
    let plugin = cfg
        .webgpu_plugin
        .clone()
        .or_else(|| env_path("AGG_WEBGPU_EP_PATH"))
        .unwrap_or_else(|| files.dir.join(WEBGPU_PLUGIN_FILE));
    if !plugin.is_file() {
        return Err(unavailable(format!(
            "WebGPU plugin library {} not found (install `{WEBGPU_PLUGIN_FILE}` from the \
             onnxruntime-ep-webgpu package there, or set AGG_WEBGPU_EP_PATH)",
            plugin.display()
        )));
    }
    {
        let mut reg = REGISTERED_PLUGINS.lock().unwrap_or_else(|e| e.into_inner());
        if !reg.contains(&plugin) {
            env.register_ep_library("agg_webgpu", &plugin)
                .map_err(|e| unavailable(format!("registering {}: {e}", plugin.display())))?;
            reg.push(plugin.clone());
        }
    }
    // The WebGPU EP takes one EP device and picks the physical GPU itself;
    // prefer a device the runtime reports as a GPU.
    let mut candidates: Vec<_> = env
        .devices()
        .filter(|d| {
            d.ep()
                .map(|n| n.to_ascii_lowercase().contains("webgpu"))
                .unwrap_or(false)
        })
        .collect();
    candidates.sort_by_key(|d| d.hardware_device().ty() != DeviceType::GPU);
    let Some(device) = candidates.into_iter().next() else {
        return Err(unavailable(
            "the WebGPU plugin loaded but offers no device (is a Vulkan driver installed?)".into(),
        ));
    };
    let hw = device.hardware_device();
    info!(
        ep = device.ep().unwrap_or("?"),
        vendor = hw.vendor().unwrap_or("?"),
        kind = ?hw.ty(),
        id = hw.id(),
        "WebGPU device"
    );
    let devices = vec![device];
    builder
        .with_devices(devices, None)
        .map_err(|e| unavailable(e.to_string()))
}

fn check_signature(session: &Session, model: &Path) -> Result<InputNames> {
    let inputs: Vec<String> = session
        .inputs()
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    let find = |want: &str| inputs.iter().find(|n| n.as_str() == want).cloned();
    let (Some(ids), Some(mask)) = (find("input_ids"), find("attention_mask")) else {
        return Err(ScoreError::Model {
            path: model.to_path_buf(),
            reason: format!(
                "expected inputs input_ids and attention_mask, the model has {inputs:?}"
            ),
        });
    };
    let outputs: Vec<String> = session
        .outputs()
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    let output = outputs
        .iter()
        .find(|n| n.as_str() == "last_hidden_state")
        .or_else(|| outputs.first())
        .cloned()
        .ok_or_else(|| ScoreError::Model {
            path: model.to_path_buf(),
            reason: "the model has no outputs".into(),
        })?;
    Ok(InputNames {
        ids,
        mask,
        type_ids: find("token_type_ids"),
        output,
    })
}

/// Counts distinct graph nodes per execution provider in an ONNX Runtime
/// profile (a JSON array of trace events; node events carry `args.provider`).
pub(crate) fn count_nodes_per_provider(profile_json: &str) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let Ok(serde_json::Value::Array(events)) = serde_json::from_str(profile_json) else {
        return BTreeMap::new();
    };
    for ev in events {
        if ev.get("cat").and_then(|c| c.as_str()) != Some("Node") {
            continue;
        }
        let Some(provider) = ev.pointer("/args/provider").and_then(|p| p.as_str()) else {
            continue;
        };
        let name = ev.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let node = name
            .strip_suffix("_kernel_time")
            .or_else(|| name.strip_suffix("_fence_before"))
            .or_else(|| name.strip_suffix("_fence_after"))
            .unwrap_or(name);
        seen.entry(provider.to_string())
            .or_default()
            .insert(node.to_string());
    }
    seen.into_iter().map(|(k, v)| (k, v.len())).collect()
}

/// Mean of the token vectors where the mask is 1, then L2-normalised.
///
/// Large batches (a GPU returns 1024 x 32 x 384 floats at a time) are pooled
/// on several threads, so that pooling on the host does not leave the GPU idle.
fn mean_pool(hidden: &[f32], mask: &[i64], b: usize, l: usize, h: usize) -> Vec<Vec<f32>> {
    let threads = if b * l * h >= 4 << 20 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(b)
            .min(16)
    } else {
        1
    };
    if threads <= 1 {
        return (0..b)
            .map(|row| pool_row(hidden, mask, row, l, h))
            .collect();
    }
    let per = b.div_ceil(threads);
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); b];
    std::thread::scope(|s| {
        for (t, chunk) in out.chunks_mut(per).enumerate() {
            s.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    *slot = pool_row(hidden, mask, t * per + i, l, h);
                }
            });
        }
    });
    out
}

fn pool_row(hidden: &[f32], mask: &[i64], row: usize, l: usize, h: usize) -> Vec<f32> {
    let mut acc = vec![0f32; h];
    let mut n = 0f32;
    for j in 0..l {
        if mask[row * l + j] == 0 {
            continue;
        }
        n += 1.0;
        let tok = &hidden[(row * l + j) * h..(row * l + j + 1) * h];
        for (a, x) in acc.iter_mut().zip(tok) {
            *a += *x;
        }
    }
    let n = n.max(1e-9);
    for a in &mut acc {
        *a /= n;
    }
    l2_normalize(&mut acc);
    acc
}

/// Each row of `h` floats of `data`, L2-normalised.
fn normalized_rows(data: &[f32], h: usize) -> Vec<Vec<f32>> {
    data.chunks(h.max(1))
        .map(|c| {
            let mut v = c.to_vec();
            l2_normalize(&mut v);
            v
        })
        .collect()
}

/// Scales `v` to unit length (leaves an all-zero vector alone).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        for x in v {
            *x /= norm;
        }
    }
}

/// Cosine similarity; for the unit vectors [`Embedder::embed`] returns this is
/// the dot product. Mismatched lengths compare the common prefix.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let na = dot(a, a).sqrt();
    let nb = dot(b, b).sqrt();
    if na < 1e-12 || nb < 1e-12 {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

/// Dot product with eight independent partial sums. A plain `zip().sum()`
/// over floats cannot be reordered by the compiler, so it runs one add at a
/// time; eight lanes let it use SIMD. This is the inner loop of scoring
/// (similarity to every kept labelled example) and of training.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

/// The longest prefix of `s` of at most `max_bytes` bytes that ends on a char boundary.
fn prefix_on_char(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The text that represents an item for embedding: the title and the lead of
/// its text. Used by the score agent, search and the evaluation alike, so that
/// the same item always gets the same vector.
pub fn item_text(title: &str, text: &str) -> String {
    let title = title.trim();
    let text = text.trim();
    match (title.is_empty(), text.is_empty()) {
        (_, true) => title.to_string(),
        (true, false) => text.to_string(),
        (false, false) => format!("{title}. {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_by_texts_and_by_padded_tokens() {
        // Headlines: only the text count cuts.
        assert_eq!(batch_ends(&[20; 130], 64, 4096), vec![64, 128, 130]);
        // Long texts: 4096 / 256 = 16 per batch.
        assert_eq!(batch_ends(&[256; 40], 64, 4096), vec![16, 32, 40]);
        // Sorted lengths: the batch is cut where padding to the longer text
        // would pass the budget.
        assert_eq!(batch_ends(&[100, 100, 100, 300, 300], 64, 700), vec![3, 5]);
        // A text over the budget alone still goes, alone.
        assert_eq!(batch_ends(&[10, 5000, 10], 64, 4096), vec![1, 2, 3]);
        assert!(batch_ends(&[], 64, 4096).is_empty());
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        let s = "aé😀b";
        assert_eq!(prefix_on_char(s, 2), "a");
        assert_eq!(prefix_on_char(s, 3), "aé");
        assert_eq!(prefix_on_char(s, 6), "aé");
        assert_eq!(prefix_on_char(s, 100), s);
    }

    #[test]
    fn pooling_ignores_padding() {
        // two rows, length 2, hidden 2; second row has one padded position
        let hidden = [1.0, 0.0, 0.0, 1.0, 3.0, 4.0, 100.0, 100.0];
        let mask = [1, 1, 1, 0];
        let out = mean_pool(&hidden, &mask, 2, 2, 2);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((out[0][0] - s).abs() < 1e-6 && (out[0][1] - s).abs() < 1e-6);
        assert!((out[1][0] - 0.6).abs() < 1e-6 && (out[1][1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn threaded_pooling_matches_serial() {
        let (b, l, h) = (64, 256, 384); // above the threading threshold
        let hidden: Vec<f32> = (0..b * l * h)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let mask: Vec<i64> = (0..b * l)
            .map(|i| i64::from((i % l) < 3 + (i / l)))
            .collect();
        let fast = mean_pool(&hidden, &mask, b, l, h);
        for row in [0, 17, 63] {
            assert_eq!(fast[row], pool_row(&hidden, &mask, row, l, h));
        }
    }

    #[test]
    fn profile_counting() {
        let json = r#"[{"cat":"Session","name":"x"},
          {"cat":"Node","name":"a_kernel_time","args":{"provider":"CPUExecutionProvider"}},
          {"cat":"Node","name":"a_kernel_time","args":{"provider":"CPUExecutionProvider"}},
          {"cat":"Node","name":"b_kernel_time","args":{"provider":"CUDAExecutionProvider"}}]"#;
        let c = count_nodes_per_provider(json);
        assert_eq!(c["CPUExecutionProvider"], 1);
        assert_eq!(c["CUDAExecutionProvider"], 1);
    }

    #[test]
    fn device_parses() {
        assert_eq!("CUDA".parse::<Device>().unwrap(), Device::Cuda);
        assert!("tpu".parse::<Device>().is_err());
    }

    #[test]
    fn missing_files_name_the_script() {
        let err = ModelFiles::locate(Some(Path::new("/nonexistent/agg-models")), None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("scripts/setup-model.sh"), "{msg}");
        assert!(msg.contains("model.onnx"), "{msg}");
    }
}
