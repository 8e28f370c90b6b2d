#!/usr/bin/env node
// Which Chromium flags give WebGPU a real GPU adapter here? Tries a few known flag sets on top of
// web/test/chromium.mjs' CHROMIUM_ARGS, prints the adapter each one gets (vendor / architecture /
// description, and whether it is a fallback adapter), and writes the first set whose adapter is a
// hardware one (not SwiftShader, not a fallback) to --out as a line for PALATE_CHROMIUM_ARGS.
// Exits 1 when none is. Used by scripts/gpu-browser-kit.sh on a lent GPU machine.
//
//   node scripts/webgpu-probe.mjs [--out FILE]
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = await import(path.join(root, 'web/node_modules/playwright-core/index.mjs'));
const { CHROMIUM_ARGS } = await import(path.join(root, 'web/test/chromium.mjs'));
const i = process.argv.indexOf('--out');
const OUT = i > 0 ? process.argv[i + 1] : null;

// Linux + NVIDIA without a display: Dawn's Vulkan backend, and ANGLE on Vulkan so the GPU process
// needs no EGL driver (the recipe of Chrome's "WebGPU in headless Chrome" notes).
// PALATE_PROBE_SETS replaces them: flag sets separated by ';'.
const SETS = process.env.PALATE_PROBE_SETS ? process.env.PALATE_PROBE_SETS.split(';').map((x) => x.trim().split(/\s+/).filter(Boolean)) : [
  ['--use-angle=gl-egl', '--ignore-gpu-blocklist', '--disable-dev-shm-usage'],
  ['--use-gl=egl', '--ignore-gpu-blocklist', '--disable-dev-shm-usage'],
  ['--use-angle=gl-egl', '--ozone-platform=headless', '--ignore-gpu-blocklist', '--disable-dev-shm-usage'],
  ['--use-angle=gl-egl', '--enable-features=Vulkan', '--disable-vulkan-surface', '--ignore-gpu-blocklist', '--disable-dev-shm-usage'],
  ['--use-angle=vulkan', '--enable-features=Vulkan', '--disable-vulkan-surface', '--ignore-gpu-blocklist', '--disable-dev-shm-usage'],
];

const server = await startServer({ port: 0 });
let chosen = null;
try {
  for (const set of SETS) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-probe-'));
    let info;
    try {
      const browser = await chromium.launchPersistentContext(dir, {
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: !process.env.PALATE_HEADFUL,
        args: [...CHROMIUM_ARGS, ...set], timeout: 60_000,
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${server.url}bench/index.html`);
        const probe = page.evaluate(async () => {
          const a = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
          if (!a) return { adapter: null };
          const i = a.info ?? {};
          return {
            adapter: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / '),
            fallback: a.isFallbackAdapter ?? i.isFallbackAdapter ?? null,
            maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
            maxBufferSize: a.limits.maxBufferSize,
          };
        });
        info = await Promise.race([probe, new Promise((resolve) => setTimeout(() => resolve({ error: 'no answer in 30 s' }), 30_000))]);
      } finally {
        await browser.close();
      }
    } catch (e) {
      info = { error: String(e).split('\n')[0] };
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    console.log(JSON.stringify({ flags: set.join(' '), ...info }));
    const hardware = info.adapter && !/swiftshader|llvmpipe|lavapipe|google/i.test(info.adapter) && info.fallback !== true;
    if (hardware) { chosen = set; break; }
  }
} finally {
  await server.close();
}
if (!chosen) {
  console.error('[webgpu-probe] no flag set gave a hardware WebGPU adapter');
  process.exit(1);
}
if (OUT) await fs.writeFile(OUT, chosen.join(' ') + '\n');
console.error(`[webgpu-probe] hardware adapter with: ${chosen.join(' ')}`);
