// Shared by the browser tests: how Debian's Chromium is launched (WebGPU on, nothing phoning home).
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
