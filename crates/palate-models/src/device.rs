//! Choosing where tensors live: burn's pure-Rust CPU backend (Flex) or wgpu (Vulkan/Metal natively,
//! WebGPU in the browser). The same model code runs on either.

use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{PalateError, Result};

/// A compute backend, as users name it (`--backend`, `backend:` in JS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's Flex backend: pure Rust, runs everywhere.
    Cpu,
    /// burn's wgpu backend: the GPU through Vulkan/Metal/DX12, or WebGPU in a browser.
    Wgpu,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
        }
    }
}

impl FromStr for BackendKind {
    type Err = PalateError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(Self::Wgpu),
            other => Err(PalateError::InvalidInput(format!(
                "unknown backend \"{other}\" (expected \"cpu\" or \"wgpu\")"
            ))),
        }
    }
}

/// The CPU device.
#[cfg(feature = "cpu")]
pub fn cpu_device() -> Device {
    Device::flex()
}

/// Whether `device` is the CPU device.
#[cfg(feature = "cpu")]
pub fn is_cpu(device: &Device) -> bool {
    *device == cpu_device()
}

/// Whether `device` is the CPU device: never, in a build without the CPU backend.
#[cfg(not(feature = "cpu"))]
pub fn is_cpu(_device: &Device) -> bool {
    false
}

/// Initialises the default wgpu adapter once per process and returns its device; later calls
/// return the same device. In a browser this is the only way to get one (synchronous init panics
/// there). Errors when no adapter exists.
///
/// An async mutex is held across the initialisation: burn registers the wgpu runtime once per
/// process, so two callers racing (parallel tests, two `createRanker` calls in one worker) would
/// otherwise both try to register it and the second would fail with "Service already initialized".
#[cfg(feature = "wgpu")]
pub async fn wgpu_device() -> Result<Device> {
    use futures_util::lock::Mutex;
    static DEVICE: Mutex<Option<Device>> = Mutex::new(None);
    let mut slot = DEVICE.lock().await;
    if let Some(device) = slot.as_ref() {
        return Ok(device.clone());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| PalateError::Backend(format!("no usable wgpu adapter: {e}")))?;
    *slot = Some(device.clone());
    Ok(device)
}

/// A device of the given kind (async because wgpu's initialisation is).
pub async fn device(kind: BackendKind) -> Result<Device> {
    match kind {
        #[cfg(feature = "cpu")]
        BackendKind::Cpu => Ok(cpu_device()),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => wgpu_device().await,
        #[allow(unreachable_patterns)]
        other => Err(PalateError::InvalidInput(format!(
            "backend \"{}\" is not compiled into this build",
            other.as_str()
        ))),
    }
}
