#!/usr/bin/env node
// bench/gguf/results.json (scripts/bench-gguf-browser.mjs) → bench/GGUF.md.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const r = JSON.parse(await fs.readFile(path.join(root, 'bench/gguf/results.json'), 'utf8'));
const mib = (b) => (b / 2 ** 20).toFixed(0);
const lines = [
  '# SmolLM2-135M-Instruct (GGUF) in the browser: Palate against wllama',
  '',
  `Written by \`scripts/bench-gguf.sh\` from \`bench/gguf/results.json\`. ${r.chromium}, headless, on a ${r.cpus}-core machine without a GPU: **WebGPU rows run on SwiftShader (software)** and say nothing about real GPUs.`,
  `The same file (\`${r.gguf}\`) in both runtimes; the task is ${r.texts} candidate replies (~${Math.round(r.rows.find((x) => x.tokens)?.tokens?.reduce((a, b) => a + b, 0) / r.texts || 0)} tokens each with the shared prompt, SmolLM2's chat format) through the model, every token's logits: what a reward needs.`,
  `Palate: \`ranker.logprobs(texts)\` (weights dequantized to f32 on load, Palate's kernels, no threads). wllama ${r.wllama} (llama.cpp): \`createCompletion({ prompt, max_tokens: 1 })\` per text, \`n_threads: 1\`, weights kept Q4_1.`,
  `Median of the runs after one warm-up (how many: the runs column). Peak memory: the sum of the browser's processes' RSS, sampled every 200 ms (baseline: the page before loading).`,
  '',
  '| runtime | backend | time for the 4 texts | ratio to wllama (same backend) | runs | load | peak browser RSS | baseline RSS | commit |',
  '|---|---|---|---|---|---|---|---|---|',
];
for (const row of r.rows) {
  if (row.error) {
    lines.push(`| ${row.runtime} | ${row.backend} | failed: ${row.error.replace(/\|/g, '/').slice(0, 160)} | | | | | | ${row.commit ?? ''} |`);
    continue;
  }
  const peer = r.rows.find((x) => x.runtime === 'wllama' && x.backend === row.backend && !x.error);
  const ratio = row.runtime === 'palate' && peer ? `${(row.medianMs / peer.medianMs).toFixed(2)}×` : '';
  lines.push(`| ${row.runtime} | ${row.backend} | ${(row.medianMs / 1000).toFixed(2)} s | ${ratio} | ${row.runs ?? r.runs} | ${(row.loadMs / 1000).toFixed(1)} s | ${mib(row.peakRssBytes)} MiB | ${mib(row.baselineRssBytes)} MiB | ${row.commit ?? ''} |`);
}
const palateCpu = r.rows.find((x) => x.runtime === 'palate' && x.backend === 'cpu' && !x.error);
if (palateCpu) lines.push('', `Palate's wasm linear memory after the run (CPU build): ${mib(palateCpu.wasmMemoryBytes)} MiB.`);
lines.push('', 'Notes on the figures measured on 2026-12-05 (revise them here when the figures are rerun):',
  '- wllama\'s WebGPU row takes as long as its CPU row: on SwiftShader its WebGPU backend appears not to be used (not checked further); read it as a second CPU measurement.',
  '- The WebGPU rows are from an earlier commit (see the column) than the CPU rows: Palate then loaded the whole f32 checkpoint at once, which raised its peak memory; its time is unaffected.',
  '- Palate holds the weights as f32 (Q4_1 dequantized exactly, ~540 MB), wllama keeps Q4_1 (~98 MB): most of the memory gap.',
  '- Runs share the 2 cores with other work of the session (one core busy): both runtimes use one thread.',
  '');
await fs.writeFile(path.join(root, 'bench/GGUF.md'), lines.join('\n'));
console.log(lines.join('\n'));
