#!/usr/bin/env node
// Palate against wllama (llama.cpp compiled to wasm) on the same GGUF, in the same headless
// Chromium: the time to evaluate 4 candidate replies of ~200 tokens after a shared prompt (every
// token's logits, as a reward needs), one thread against one thread, and each browser's peak
// memory (the sum of its processes' RSS, sampled). Each runtime gets a fresh browser.
//   node scripts/bench-gguf-browser.mjs [--runs 3] [--backends cpu,webgpu]  → bench/gguf/results.json
// Needs: scripts/build-wasm.sh, scripts/fetch-model.sh smollm2, and the peer from
// bench/browser/package-lock.json (npm ci in bench/browser). Run through scripts/bench-gguf.sh.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';
import { CHROMIUM_ARGS } from '../web/test/chromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = await import(path.join(root, 'web/node_modules/playwright-core/index.mjs'));
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const RUNS = Number(opt('runs', 3));
const BACKENDS = opt('backends', 'cpu,webgpu').split(',');
const GGUF = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const wllamaDir = path.join(root, 'bench/browser/node_modules/@wllama/wllama/esm');
const wllamaVersion = JSON.parse(await fs.readFile(path.join(wllamaDir, '../package.json'), 'utf8')).version;

// One shared prompt and four replies of ~200 tokens, in SmolLM2's chat format (the page renders
// nothing itself: both runtimes get the same strings).
const prompt = 'I am planning a week-long trip to Japan in spring with my partner. We like food, quiet temples and walking, and we want to avoid crowds where we can. How should we plan our days?';
const replyTopics = [
  'Start in Tokyo for two days, then take the train to Kyoto. Walk the Philosopher\'s Path early in the morning, visit smaller temples such as Honen-in, and eat at the markets in the afternoon.',
  'Spend the whole week in Kyoto and the countryside around it. Stay in a ryokan for at least one night, get up at sunrise to see the famous temples before tour groups arrive, and take day trips to Nara and Uji.',
  'Go north instead of following the usual route: Kanazawa, the Noto peninsula and Takayama are calm in spring, have excellent seafood and mountain cooking, and their old towns are easy to explore on foot.',
  'Plan around the cherry blossom forecast, book trains and popular restaurants early, keep one free day for rain, and mix busy sights with quiet neighbourhoods so that you are never rushed.',
];
const padding = ' Each day, leave time for a long lunch, a slow walk through a residential area, a short rest at your hotel, and an early dinner near the station, so that travelling between towns never feels hurried and you can enjoy the small shops, gardens and shrines you pass along the way.';
const replies = replyTopics.map((r) => r + padding + padding);
const texts = replies.map((r) => `<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n${prompt}<|im_end|>\n<|im_start|>assistant\n${r}<|im_end|>\n`);

/** Sum of the RSS of every process of the browser `pid` (the parent and all its children), in bytes. */
function browserRss(pid) {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,rss='], { encoding: 'utf8' });
  const rows = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const kids = new Map();
  for (const [p, pp] of rows) kids.set(pp, [...(kids.get(pp) ?? []), p]);
  const rss = new Map(rows.map(([p, , r]) => [p, r]));
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    total += (rss.get(p) ?? 0) * 1024;
    stack.push(...(kids.get(p) ?? []));
  }
  return total;
}

async function inBrowser(server, fn, arg) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-gguf-bench-'));
  const context = await chromium.launchPersistentContext(dir, { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  const pid = Number(execFileSync('pgrep', ['-o', '-f', dir], { encoding: 'utf8' }).trim());
  let peak = 0;
  const sampler = setInterval(() => { try { peak = Math.max(peak, browserRss(pid)); } catch { /* process gone */ } }, 200);
  try {
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
    await page.goto(`${server.url}index.html?backend=cpu`);
    const baseline = browserRss(pid);
    const result = await page.evaluate(fn, arg);
    return { ...result, peakRssBytes: peak, baselineRssBytes: baseline };
  } finally {
    clearInterval(sampler);
    await context.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function palateRun(backend) {
  return (await inBrowser(server, async ({ backend, texts, runs, file }) => {
    const { createRanker } = await import('/src/palate.js');
    const t0 = performance.now();
    const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', rewardModel: `/smollm2/${file}`, backend });
    const loadMs = performance.now() - t0;
    try {
      const times = [];
      let rows;
      for (let i = 0; i <= runs; i++) {
        const t = performance.now();
        rows = await r.logprobs(texts);
        if (i > 0) times.push(performance.now() - t); // the first run warms up
      }
      const { wasmMemoryBytes } = await r.stats();
      return { backend: r.backend, loadMs, times, tokens: rows.map((x) => x.ids.length), lastLogprob: rows.map((x) => x.logprobs.at(-1)), wasmMemoryBytes };
    } finally {
      r.dispose();
    }
  }, { backend, texts, runs: RUNS, file: GGUF }));
}

async function wllamaRun(gpu) {
  return (await inBrowser(server, async ({ texts, runs, file, gpu }) => {
    const { Wllama } = await import('/wllama/index.js');
    const w = new Wllama({ default: '/wllama/wasm/wllama.wasm', 'single-thread/wllama.wasm': '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
    const t0 = performance.now();
    const blob = await (await fetch(`/smollm2/${file}`)).blob();
    await w.loadModel([blob], { n_threads: 1, n_gpu_layers: gpu ? 99 : 0, n_ctx: 1024, n_batch: 512, n_ubatch: 512, warmup: false });
    const loadMs = performance.now() - t0;
    try {
      const times = [];
      for (let i = 0; i <= runs; i++) {
        const t = performance.now();
        for (const prompt of texts) {
          // The prompt through the model, then one greedy token. If wllama reuses the shared prefix
          // of the previous text from its KV cache, that only makes its time shorter.
          await w.createCompletion({ prompt, max_tokens: 1, temperature: 0 });
        }
        if (i > 0) times.push(performance.now() - t);
      }
      return { backend: gpu ? 'webgpu' : 'cpu', loadMs, times };
    } finally {
      await w.exit();
    }
  }, { texts, runs: RUNS, file: GGUF, gpu }));
}

const server = await startServer({
  port: 0,
  mounts: { '/smollm2/': path.join(root, 'models/SmolLM2-135M-Instruct'), '/wllama/': wllamaDir },
});
const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { gguf: GGUF, wllama: wllamaVersion, texts: texts.length, runs: RUNS, chromium: execFileSync(process.env.CHROMIUM ?? '/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim(), cpus: os.cpus().length, rows: [] };
try {
  for (const backend of BACKENDS) {
    for (const [name, run] of [['palate', () => palateRun(backend)], ['wllama', () => wllamaRun(backend === 'webgpu')]]) {
      console.error(`${name} on ${backend} …`);
      try {
        const r = await run();
        results.rows.push({ runtime: name, ...r, medianMs: median(r.times), runs: RUNS, commit });
        console.error(`  median ${median(r.times).toFixed(0)} ms for ${texts.length} texts; peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
      } catch (e) {
        results.rows.push({ runtime: name, backend, error: String(e?.message ?? e) });
        console.error(`  failed: ${e?.message ?? e}`);
      }
    }
  }
} finally {
  await server.close();
}
// Rows of backends not run this time are kept from the last results of the same peer and file.
const file = path.join(root, 'bench/gguf/results.json');
const last = await fs.readFile(file, 'utf8').then(JSON.parse).catch(() => null);
if (last?.gguf === results.gguf && last?.wllama === results.wllama) {
  results.rows = [...last.rows.filter((r) => !BACKENDS.includes(r.backend)), ...results.rows];
}
await fs.mkdir(path.dirname(file), { recursive: true });
await fs.writeFile(file, JSON.stringify(results, null, 1) + '\n');
console.log(JSON.stringify(results.rows.map(({ runtime, backend, medianMs, peakRssBytes, error }) => ({ runtime, backend, medianMs, peakRssBytes, error }))));
