//! Which ONNX Runtime library a process loads, and the GPU pieces around it.
//!
//! A process can load one ONNX Runtime library, once, so the choice between
//! the CPU build (`libonnxruntime.so.1.32.0` in the model directory) and the
//! GPU build (`cuda/` beside it, from `scripts/setup-model.sh --gpu cuda`) is
//! made before the first session, from facts that can be checked without
//! loading it: is the GPU build installed, is there an NVIDIA driver, does it
//! see a device. The GPU build also runs on the CPU, so loading it is never a
//! dead end; loading the CPU build rules CUDA out for the life of the process.
//!
//! The CUDA provider library (`libonnxruntime_providers_cuda.so`) names
//! `libcudart.so.13`, `libcublas.so.13`, … without a search path. Python's
//! onnxruntime preloads them from the `nvidia-*` packages; agg does the same
//! from `cuda/` ([`CudaInstall::preload`]), so no `LD_LIBRARY_PATH` is needed.
//! Only the driver (`libcuda.so.1`) comes from the system.

use std::ffi::{c_char, c_int};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::embed::{
    Device, EmbedConfig, ModelFiles, ORT_LIB_NAME, WEBGPU_PLUGIN_FILE, default_model_dir,
};

/// Folder under the model directory that `setup-model.sh --gpu cuda` fills.
pub const CUDA_SUBDIR: &str = "cuda";
/// The manifest in [`CUDA_SUBDIR`]: which runtime library to load and which
/// NVIDIA libraries to preload, in order. Written by `setup-model.sh` last, so
/// its presence means the install finished.
pub const CUDA_MANIFEST: &str = "agg-cuda.txt";
/// The NVIDIA driver library, which only the system can provide.
pub const DRIVER_LIB: &str = "libcuda.so.1";
/// The Vulkan loader the WebGPU plugin needs (Debian: `libvulkan1`).
pub const VULKAN_LIB: &str = "libvulkan.so.1";

/// A finished `setup-model.sh --gpu cuda` install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaInstall {
    /// `<model dir>/cuda`.
    pub dir: PathBuf,
    /// The GPU build of ONNX Runtime (`libonnxruntime.so.1.x.y`).
    pub runtime: PathBuf,
    /// NVIDIA libraries to load before the CUDA provider, in dependency order.
    pub preload: Vec<PathBuf>,
    /// The CUDA major version these libraries were built for (12, 13).
    pub cuda_major: u32,
}

impl CudaInstall {
    /// Reads `<model_dir>/cuda/agg-cuda.txt`. `Ok(None)`: not installed.
    /// `Err`: installed but broken (a listed file is missing), with the fix.
    pub fn find(model_dir: &Path) -> Result<Option<CudaInstall>, String> {
        let dir = model_dir.join(CUDA_SUBDIR);
        let manifest = dir.join(CUDA_MANIFEST);
        let text = match std::fs::read_to_string(&manifest) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", manifest.display())),
        };
        let mut runtime = None;
        let mut preload = Vec::new();
        let mut cuda_major = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim();
            // File names only: the manifest must not point outside its folder.
            let file = |v: &str| -> Result<PathBuf, String> {
                if v.is_empty() || v.contains('/') || v.starts_with('.') {
                    Err(format!(
                        "{}:{}: `{v}` is not a file name",
                        manifest.display(),
                        n + 1
                    ))
                } else {
                    Ok(dir.join(v))
                }
            };
            match key {
                "runtime" => runtime = Some(file(value)?),
                "preload" => preload.push(file(value)?),
                "cuda" => {
                    cuda_major = value.parse().map_err(|_| {
                        format!(
                            "{}:{}: bad CUDA version `{value}`",
                            manifest.display(),
                            n + 1
                        )
                    })?
                }
                _ => {} // later keys (sha256 lines etc.) are for the script
            }
        }
        let runtime =
            runtime.ok_or_else(|| format!("{} names no `runtime` library", manifest.display()))?;
        let missing: Vec<String> = std::iter::once(&runtime)
            .chain(&preload)
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the CUDA install in {} is incomplete (missing {}); run `scripts/setup-model.sh --gpu cuda` again",
                dir.display(),
                missing.join(", ")
            ));
        }
        Ok(Some(CudaInstall {
            dir,
            runtime,
            preload,
            cuda_major,
        }))
    }

    /// Loads the NVIDIA libraries of this install into the process (once;
    /// they stay loaded), so that the CUDA provider's dependencies resolve by
    /// their sonames without `LD_LIBRARY_PATH`.
    pub fn preload(&self) -> Result<(), String> {
        static DONE: OnceLock<Result<(), String>> = OnceLock::new();
        DONE.get_or_init(|| {
            use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
            for lib in &self.preload {
                // SAFETY: these are NVIDIA's own runtime libraries; their
                // initialisers only set up library state. They are never
                // unloaded (forget), so no symbol outlives its library.
                let l = unsafe { Library::open(Some(lib), RTLD_NOW | RTLD_GLOBAL) }
                    .map_err(|e| format!("loading {}: {e}", lib.display()))?;
                std::mem::forget(l);
            }
            Ok(())
        })
        .clone()
    }
}

/// What the NVIDIA driver says, asked through `libcuda.so.1` directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// `libcuda.so.1` could not be loaded: no NVIDIA driver on this machine.
    Missing(String),
    /// The driver loaded but `cuInit` failed (no device node, container
    /// without the GPU, driver/kernel module mismatch).
    InitFailed(String),
    /// The driver works and sees devices.
    Ready {
        /// Devices the driver reports.
        devices: Vec<String>,
        /// Highest CUDA version the driver supports, as (major, minor).
        cuda: (u32, u32),
    },
}

impl Driver {
    /// One line for people: what was found.
    pub fn describe(&self) -> String {
        match self {
            Driver::Missing(e) => format!(
                "no NVIDIA device: the NVIDIA driver library {DRIVER_LIB} is not installed ({e})"
            ),
            Driver::InitFailed(e) => format!("no usable NVIDIA device: {e}"),
            Driver::Ready { devices, cuda } => format!(
                "NVIDIA driver for CUDA {}.{}, {} device(s): {}",
                cuda.0,
                cuda.1,
                devices.len(),
                devices.join(", ")
            ),
        }
    }
}

/// Asks the NVIDIA driver for devices (once per process).
pub fn nvidia_driver() -> Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(probe_driver).clone()
}

fn probe_driver() -> Driver {
    type CuInit = unsafe extern "C" fn(u32) -> c_int;
    type CuCount = unsafe extern "C" fn(*mut c_int) -> c_int;
    type CuVersion = unsafe extern "C" fn(*mut c_int) -> c_int;
    type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type CuName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    // SAFETY: libcuda.so.1 is the NVIDIA driver's user-space library; the
    // functions below have these C signatures in every driver since CUDA 4
    // (cuda.h), and are called with valid out-pointers. The library stays
    // loaded for the process (the CUDA provider will use it too).
    unsafe {
        let lib = match libloading::Library::new(DRIVER_LIB) {
            Ok(l) => l,
            Err(e) => return Driver::Missing(e.to_string()),
        };
        let sym = |name: &[u8]| -> Result<*const (), String> {
            lib.get::<*const ()>(name)
                .map(|s| *s)
                .map_err(|e| format!("{DRIVER_LIB} lacks a function: {e}"))
        };
        let result = (|| -> Result<Driver, String> {
            let init: CuInit = std::mem::transmute(sym(b"cuInit\0")?);
            let count: CuCount = std::mem::transmute(sym(b"cuDeviceGetCount\0")?);
            let version: CuVersion = std::mem::transmute(sym(b"cuDriverGetVersion\0")?);
            let get: CuDeviceGet = std::mem::transmute(sym(b"cuDeviceGet\0")?);
            let name: CuName = std::mem::transmute(sym(b"cuDeviceGetName\0")?);
            let rc = init(0);
            if rc != 0 {
                return Ok(Driver::InitFailed(format!(
                    "cuInit failed with CUDA error {rc}{}",
                    if rc == 100 {
                        " (no CUDA-capable device is detected)"
                    } else {
                        ""
                    }
                )));
            }
            let mut v = 0;
            version(&mut v);
            let mut n = 0;
            let rc = count(&mut n);
            if rc != 0 || n <= 0 {
                return Ok(Driver::InitFailed(format!(
                    "the NVIDIA driver reports no device (error {rc}, {n} devices)"
                )));
            }
            let mut devices = Vec::new();
            for i in 0..n {
                let mut dev = 0;
                let mut buf = [0 as c_char; 128];
                let label = if get(&mut dev, i) == 0 && name(buf.as_mut_ptr(), 127, dev) == 0 {
                    std::ffi::CStr::from_ptr(buf.as_ptr())
                        .to_string_lossy()
                        .into_owned()
                } else {
                    format!("device {i}")
                };
                devices.push(label);
            }
            Ok(Driver::Ready {
                devices,
                cuda: ((v / 1000) as u32, ((v % 1000) / 10) as u32),
            })
        })();
        std::mem::forget(lib);
        result.unwrap_or_else(Driver::InitFailed)
    }
}

/// Whether the Vulkan loader that the WebGPU plugin needs can be loaded.
pub fn vulkan_loader() -> Result<(), String> {
    // SAFETY: the Vulkan loader's initialisers only read its ICD manifests.
    match unsafe { libloading::Library::new(VULKAN_LIB) } {
        Ok(l) => {
            drop(l);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Whether this build has the CUDA execution provider compiled in.
pub const fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// What `agg doctor` found for one device, without loading ONNX Runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCheck {
    /// The device.
    pub device: Device,
    /// Everything this check can see is in place. A GPU device can still
    /// fail when its session is created; only loading the model tells.
    pub ready: bool,
    /// What was found, in words.
    pub found: String,
    /// What to do when not ready.
    pub fix: Option<String>,
}

/// Checks, for each device, the files and system libraries it needs, in the
/// order `device: auto` tries them (CUDA, WebGPU, CPU). Cheap: loads the
/// NVIDIA driver and the Vulkan loader at most, never ONNX Runtime.
pub fn check_devices(cfg: &EmbedConfig) -> Vec<DeviceCheck> {
    let dir = cfg.model_dir.clone().unwrap_or_else(default_model_dir);
    let explicit = cfg.ort_dylib.clone().or_else(|| {
        std::env::var_os("ORT_DYLIB_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    vec![
        check_cuda(&dir, explicit.as_deref()),
        check_webgpu(cfg, &dir),
        check_cpu(&dir, explicit.as_deref()),
    ]
}

/// CUDA: compiled in, the NVIDIA driver, and the runtime `setup-model.sh
/// --gpu cuda` installs (or an explicit ONNX Runtime, trusted to be a GPU
/// build), for a CUDA version the driver supports.
fn check_cuda(dir: &Path, explicit: Option<&Path>) -> DeviceCheck {
    if !cuda_compiled() {
        DeviceCheck {
            device: Device::Cuda,
            ready: false,
            found: "this agg was built without the `cuda` feature".into(),
            fix: Some("build agg with its default features: cargo build --release".into()),
        }
    } else {
        let driver = nvidia_driver();
        match (CudaInstall::find(dir), &driver) {
            (Err(e), _) => DeviceCheck {
                device: Device::Cuda,
                ready: false,
                found: e,
                fix: Some("scripts/setup-model.sh --gpu cuda".into()),
            },
            (Ok(None), Driver::Ready { .. }) if explicit.is_none() => DeviceCheck {
                device: Device::Cuda,
                ready: false,
                found: format!(
                    "{}; the CUDA runtime is not installed in {}",
                    driver.describe(),
                    dir.join(CUDA_SUBDIR).display()
                ),
                fix: Some("scripts/setup-model.sh --gpu cuda".into()),
            },
            (Ok(_), Driver::Ready { .. }) if explicit.is_some() => DeviceCheck {
                device: Device::Cuda,
                ready: true,
                found: format!(
                    "{}; ONNX Runtime from ORT_DYLIB_PATH/ort_dylib (must be a GPU build)",
                    driver.describe()
                ),
                fix: None,
            },
            (Ok(Some(i)), Driver::Ready { cuda, .. }) => {
                if i.cuda_major > cuda.0 {
                    DeviceCheck {
                        device: Device::Cuda,
                        ready: false,
                        found: format!(
                            "{}; the installed ONNX Runtime needs CUDA {}",
                            driver.describe(),
                            i.cuda_major
                        ),
                        fix: Some(format!(
                            "update the NVIDIA driver to one for CUDA {}",
                            i.cuda_major
                        )),
                    }
                } else {
                    DeviceCheck {
                        device: Device::Cuda,
                        ready: true,
                        found: format!(
                            "{}; CUDA {} runtime in {}",
                            driver.describe(),
                            i.cuda_major,
                            i.dir.display()
                        ),
                        fix: None,
                    }
                }
            }
            (installed, _) => DeviceCheck {
                device: Device::Cuda,
                ready: false,
                found: format!(
                    "{}{}",
                    driver.describe(),
                    match installed {
                        Ok(Some(i)) => format!(" (the CUDA {} runtime is installed)", i.cuda_major),
                        _ => String::new(),
                    }
                ),
                fix: Some(
                    "on a machine with an NVIDIA GPU: install its driver (CUDA 13: driver 580 or \
                     newer), then `scripts/setup-model.sh --gpu cuda`"
                        .into(),
                ),
            },
        }
    }
}

/// WebGPU: the plugin provider and the system's Vulkan loader.
fn check_webgpu(cfg: &EmbedConfig, dir: &Path) -> DeviceCheck {
    let plugin = cfg
        .webgpu_plugin
        .clone()
        .or_else(|| {
            std::env::var_os("AGG_WEBGPU_EP_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| dir.join(WEBGPU_PLUGIN_FILE));
    match (plugin.is_file(), vulkan_loader()) {
        (false, _) => DeviceCheck {
            device: Device::Webgpu,
            ready: false,
            found: format!("the WebGPU plugin {} is not installed", plugin.display()),
            fix: Some(
                "scripts/setup-model.sh --gpu webgpu (needs a GPU with a Vulkan driver)".into(),
            ),
        },
        (true, Err(e)) => DeviceCheck {
            device: Device::Webgpu,
            ready: false,
            found: format!(
                "plugin {} present, but no Vulkan loader ({e})",
                plugin.display()
            ),
            fix: Some(
                "install the Vulkan loader and your GPU's Vulkan driver (Debian: apt-get install \
                 libvulkan1 mesa-vulkan-drivers, or the NVIDIA driver)"
                    .into(),
            ),
        },
        (true, Ok(())) => DeviceCheck {
            device: Device::Webgpu,
            ready: true,
            found: format!("plugin {} and the Vulkan loader present", plugin.display()),
            fix: None,
        },
    }
}

/// CPU: the model, its tokenizer and the ONNX Runtime library.
fn check_cpu(dir: &Path, explicit: Option<&Path>) -> DeviceCheck {
    let cpu_lib = explicit.map_or_else(|| dir.join(ORT_LIB_NAME), Path::to_path_buf);
    match ModelFiles::locate(Some(dir), Some(&cpu_lib)) {
        Ok(f) => DeviceCheck {
            device: Device::Cpu,
            ready: true,
            found: format!(
                "model, tokenizer and ONNX Runtime {} present",
                f.ort_dylib.display()
            ),
            fix: None,
        },
        Err(e) => DeviceCheck {
            device: Device::Cpu,
            ready: false,
            found: e.to_string(),
            fix: Some(format!("scripts/setup-model.sh {}", dir.display())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(files: &[&str], manifest: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let c = t.path().join(CUDA_SUBDIR);
        std::fs::create_dir_all(&c).unwrap();
        for f in files {
            std::fs::write(c.join(f), b"x").unwrap();
        }
        std::fs::write(c.join(CUDA_MANIFEST), manifest).unwrap();
        t
    }

    #[test]
    fn no_cuda_folder_is_not_installed() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(CudaInstall::find(t.path()), Ok(None));
    }

    #[test]
    fn manifest_lists_runtime_and_preload_order() {
        let t = install(
            &["libort.so", "liba.so", "libb.so"],
            "# comment\ncuda 13\nruntime libort.so\npreload libb.so\nsha256 00 libb.so\npreload liba.so\n",
        );
        let i = CudaInstall::find(t.path()).unwrap().unwrap();
        assert_eq!(i.cuda_major, 13);
        assert_eq!(i.runtime, t.path().join("cuda/libort.so"));
        let names: Vec<_> = i
            .preload
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["libb.so", "liba.so"]);
    }

    #[test]
    fn a_missing_library_names_the_fix() {
        let t = install(
            &["libort.so"],
            "cuda 13\nruntime libort.so\npreload libgone.so\n",
        );
        let e = CudaInstall::find(t.path()).unwrap_err();
        assert!(e.contains("libgone.so") && e.contains("--gpu cuda"), "{e}");
    }

    #[test]
    fn manifest_cannot_point_outside_its_folder() {
        let t = install(&[], "cuda 13\nruntime ../../etc/passwd\n");
        let e = CudaInstall::find(t.path()).unwrap_err();
        assert!(e.contains("not a file name"), "{e}");
        let t = install(&["libort.so"], "cuda 13\n");
        assert!(
            CudaInstall::find(t.path())
                .unwrap_err()
                .contains("no `runtime`")
        );
    }

    #[test]
    fn driver_description_says_no_device() {
        let d = Driver::Missing("libcuda.so.1: cannot open shared object file".into());
        assert!(
            d.describe().starts_with("no NVIDIA device"),
            "{}",
            d.describe()
        );
    }
}
