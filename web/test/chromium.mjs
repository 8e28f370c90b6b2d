// Shared by the browser tests and benchmarks: how Debian's Chromium is launched (WebGPU on, nothing
// phoning home). PALATE_CHROMIUM_ARGS (space-separated) adds flags, e.g. the Vulkan ones a real GPU
// needs (scripts/webgpu-probe.mjs finds a working set; scripts/gpu-browser-kit.sh uses it), and the
// benchmark scripts run a windowed Chromium when PALATE_HEADFUL is set (on an X server's DISPLAY).
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ...(process.env.PALATE_CHROMIUM_ARGS ?? '').split(/\s+/).filter(Boolean),
];
