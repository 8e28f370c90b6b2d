// Browser tests: Debian's headless Chromium (driven by playwright-core) loads Palate's wasm in a
// Web Worker and embeds the fixture texts on WebGPU and on the CPU backend; both must equal the
// independent float64 reference within 1e-4. Broken model folders must reject with a readable
// message. WebGPU without an adapter fails the test: it does not skip.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';
import { CHROMIUM_ARGS } from './chromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const modelDir = process.env.PALATE_MODEL_DIR ?? path.join(root, 'models/all-MiniLM-L6-v2');
const fixture = JSON.parse(await fs.readFile(path.join(root, 'tests/fixtures/minilm.json'), 'utf8'));
const chat = JSON.parse(await fs.readFile(path.join(root, 'tests/fixtures/rm/chat.json'), 'utf8'));
const gguf = JSON.parse(await fs.readFile(path.join(root, 'tests/fixtures/gguf/smollm2-logprobs.json'), 'utf8'));
const smollm2Dir = path.join(root, 'models/SmolLM2-135M-Instruct');
const TOLERANCE = 1e-4;
const STEP_TIMEOUT_MS = 8 * 60_000;


let server, browser, page, userDataDir, brokenDir;

/** Folders with one thing broken each, served under /broken/NAME/. */
async function makeBrokenModels(dir) {
  const copy = async (name, edit) => {
    const d = path.join(dir, name);
    await fs.mkdir(d, { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors', 'sentence_bert_config.json', 'modules.json']) {
      await fs.copyFile(path.join(modelDir, f), path.join(d, f));
    }
    await edit(d);
  };
  await copy('missing-tokenizer', (d) => fs.rm(path.join(d, 'tokenizer.json')));
  await copy('truncated-weights', async (d) => {
    const f = path.join(d, 'model.safetensors');
    const bytes = await fs.readFile(f);
    await fs.writeFile(f, bytes.subarray(0, bytes.length >> 1));
  });
  await copy('wrong-hidden-size', async (d) => {
    const f = path.join(d, 'config.json');
    const c = JSON.parse(await fs.readFile(f, 'utf8'));
    c.hidden_size = 768;
    await fs.writeFile(f, JSON.stringify(c));
  });
  await copy('invalid-tokenizer', (d) => fs.writeFile(path.join(d, 'tokenizer.json'), '{"version":"1.0","model":42}'));
}

before(async () => {
  await fs.access(path.join(modelDir, 'model.safetensors')).catch(() => {
    throw new Error(`${modelDir} has no model.safetensors: run scripts/fetch-model.sh first`);
  });
  await fs.access(path.join(smollm2Dir, gguf.model)).catch(() => {
    throw new Error(`${smollm2Dir} has no ${gguf.model}: run scripts/fetch-model.sh smollm2 first`);
  });
  for (const build of ['web/pkg', 'web/pkg-cpu']) {
    await fs.access(path.join(root, build, 'palate_wasm_bg.wasm')).catch(() => {
      throw new Error(`${build} is missing: run scripts/build-wasm.sh first`);
    });
  }
  brokenDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-broken-'));
  await makeBrokenModels(brokenDir);
  server = await startServer({
    port: 0,
    mounts: { '/models/all-MiniLM-L6-v2/': modelDir, '/broken/': brokenDir, '/rm/': path.join(root, 'tests/fixtures/rm'), '/smollm2/': smollm2Dir },
  });
  userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
  await page.goto(`${server.url}index.html?backend=cpu`);
});

after(async () => {
  await browser?.close();
  await server?.close();
  for (const d of [userDataDir, brokenDir]) if (d) await fs.rm(d, { recursive: true, force: true });
});

/** Runs createRanker + embed in the page, bounded in time. */
function embedInPage(model, backend, texts, precision = 'f32', threads = undefined) {
  return page.evaluate(async ({ model, backend, texts, precision, threads, timeout }) => {
    const { createRanker } = await import('/src/palate.js');
    const timer = new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout));
    const work = (async () => {
      const phases = new Set();
      let wasmProgress = null; // the last 'wasm' event: the build's bytes
      const onProgress = (p) => { phases.add(p.phase); if (p.phase === 'wasm') wasmProgress = p; };
      const r = await createRanker({ model, backend, precision, onProgress, threads });
      try {
        const t0 = performance.now();
        const rows = await r.embed(texts);
        const ms = performance.now() - t0;
        const { build, threads: used } = await r.stats();
        return {
          backend: r.backend, dim: r.dim, phases: [...phases], ms, build, threads: used, wasmProgress,
          rows: rows.map((x) => ({ ids: x.ids, embedding: Array.from(x.embedding) })),
        };
      } finally {
        r.dispose();
      }
    })();
    return Promise.race([work, timer]);
  }, { model, backend, texts, precision, threads, timeout: STEP_TIMEOUT_MS });
}

/** The 'wasm' progress events counted the build's .wasm to its last byte. */
async function assertWasmProgress(out, dir, file) {
  const size = (await fs.stat(path.join(root, dir, 'palate_wasm_bg.wasm'))).size;
  assert.deepEqual(out.wasmProgress, { phase: 'wasm', file, loaded: size, total: size }, `wasm download progress (${dir})`);
}

function assertMatchesFixture(out, label) {
  assert.equal(out.rows.length, fixture.texts.length);
  let worst = 0;
  out.rows.forEach((row, i) => {
    assert.deepEqual(row.ids, fixture.ids[i], `${label}: token ids of text ${i}`);
    assert.equal(row.embedding.length, fixture.embeddings[i].length);
    row.embedding.forEach((x, j) => {
      const err = Math.abs(x - fixture.embeddings[i][j]);
      worst = Math.max(worst, err);
      assert.ok(err <= TOLERANCE, `${label}: text ${i} component ${j}: ${x} vs ${fixture.embeddings[i][j]}`);
    });
  });
  console.log(`${label}: max |error| ${worst.toExponential(2)}, embed ${out.ms.toFixed(0)} ms for ${out.rows.length} texts`);
}

describe('all-MiniLM-L6-v2 in headless Chromium', { timeout: 20 * 60_000 }, () => {
  test('WebGPU has an adapter under the documented flags', async () => {
    const info = await page.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      return adapter ? { ok: true, binding: adapter.limits.maxStorageBufferBindingSize } : { ok: false };
    });
    assert.ok(info.ok, 'navigator.gpu.requestAdapter() gave no adapter: WebGPU is required for this test');
  });

  // Chromium's WGSL compiler (Tint) checks rules naga, which the native tests use, does not
  // (uniformity: a barrier under a loop bounded by a storage value), and a module it refuses is
  // only "invalid due to a previous error" once it runs. So compile each kernel here first.
  test("every Palate WGSL kernel compiles in Chromium's Tint", async () => {
    const dir = path.join(root, 'crates/palate-models/src/kernels');
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.wgsl')).sort();
    assert.deepEqual(files, ['linear.wgsl', 'matmul.wgsl']);
    for (const f of files) {
      const code = await fs.readFile(path.join(dir, f), 'utf8');
      const errors = await page.evaluate(async (code) => {
        const device = await (await navigator.gpu.requestAdapter()).requestDevice();
        const info = await device.createShaderModule({ code }).getCompilationInfo();
        device.destroy();
        return info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      }, code);
      assert.deepEqual(errors, [], `${f} does not compile: ${errors.join('; ')}`);
    }
  });

  test('embeddings on WebGPU match the reference', async () => {
    const out = await embedInPage('/models/all-MiniLM-L6-v2/', 'webgpu', fixture.texts);
    assert.equal(out.backend, 'webgpu');
    assert.equal(out.build, 'webgpu', 'WebGPU needs the full build (web/pkg)');
    await assertWasmProgress(out, 'web/pkg', 'webgpu build');
    assert.equal(out.dim, 384);
    assert.ok(out.phases.includes('download'), `progress phases: ${out.phases}`);
    assertMatchesFixture(out, 'webgpu');
  });

  test('embeddings on the CPU backend match the reference', async () => {
    const out = await embedInPage('/models/all-MiniLM-L6-v2/', 'cpu', fixture.texts, 'f32', false);
    assert.equal(out.backend, 'cpu');
    assert.equal(out.build, 'cpu', 'threads: false loads the single-threaded CPU build (web/pkg-cpu)');
    assert.equal(out.threads, 1);
    await assertWasmProgress(out, 'web/pkg-cpu', 'cpu build');
    assertMatchesFixture(out, 'cpu');
  });

  test('a cross-origin-isolated page runs the CPU on every core (web/pkg-threads), with the single-threaded numbers bit for bit', async () => {
    const isolated = await page.evaluate(() => self.crossOriginIsolated && navigator.hardwareConcurrency);
    assert.ok(isolated >= 2, `the test page is not cross-origin isolated with 2+ cores (${isolated}): the server sends COOP/COEP`);
    const bits = (out) => out.rows.map((r) => Array.from(new Uint32Array(new Float32Array(r.embedding).buffer)));
    // Enough texts for the products to split across threads (kernels/pool.rs: 16+ rows a task).
    const texts = [...fixture.texts, ...fixture.texts.map((t) => `${t} ${t}`)];
    for (const precision of ['f32', 'q8']) {
      const threaded = await embedInPage('/models/all-MiniLM-L6-v2/', 'cpu', texts, precision);
      assert.equal(threaded.build, 'cpu-threads', 'an isolated page loads the threaded build');
      assert.equal(threaded.threads, isolated, 'one thread per core');
      const single = await embedInPage('/models/all-MiniLM-L6-v2/', 'cpu', texts, precision, false);
      assert.equal(single.build, 'cpu');
      assert.deepEqual(bits(threaded), bits(single), `${precision}: the threaded build's embeddings differ`);
      console.log(`${precision}: ${texts.length} texts in ${threaded.ms.toFixed(0)} ms on ${threaded.threads} threads, ${single.ms.toFixed(0)} ms on one (first call, cold)`);
      if (precision === 'f32') assertMatchesFixture({ ...threaded, rows: threaded.rows.slice(0, fixture.texts.length) }, 'cpu-threads');
    }
  });

  test('q8 weights (createRanker({ precision })) keep embeddings within cosine 0.999 on WebGPU and CPU', async () => {
    for (const backend of ['webgpu', 'cpu']) {
      const out = await embedInPage('/models/all-MiniLM-L6-v2/', backend, fixture.texts, 'q8');
      let worst = 1;
      out.rows.forEach((row, i) => {
        const ref = fixture.embeddings[i];
        let dot = 0, a = 0, b = 0;
        row.embedding.forEach((x, j) => { dot += x * ref[j]; a += x * x; b += ref[j] * ref[j]; });
        worst = Math.min(worst, dot / Math.sqrt(a * b));
      });
      console.log(`q8 on ${backend}: min cosine to the float64 reference ${worst.toFixed(5)}`);
      assert.ok(worst >= 0.999 && worst < 0.9999999, `q8 on ${backend}: min cosine ${worst}`);
    }
    await assert.rejects(
      page.evaluate(async () => (await import('/src/palate.js')).createRanker({ model: '/models/all-MiniLM-L6-v2/', precision: 'q3' })),
      /'f32', 'q8' or 'q4'/,
    );
  });

  // Packs written by scripts/test.sh with `palate convert` (models/packs/).
  test('one .bpk file (palate convert, q8) loads on WebGPU and CPU: embeddings, taste file, reward model', async () => {
    for (const backend of ['webgpu', 'cpu']) {
      const out = await embedInPage('/models/packs/all-MiniLM-L6-v2.q8.bpk', backend, fixture.texts.slice(0, 6));
      assert.equal(out.backend, backend);
      let worst = 1;
      out.rows.forEach((row, i) => {
        assert.deepEqual(row.ids, fixture.ids[i], `${backend}: token ids of text ${i} (the carried tokenizer)`);
        const ref = fixture.embeddings[i];
        let dot = 0, a = 0, b = 0;
        row.embedding.forEach((x, j) => { dot += x * ref[j]; a += x * x; b += ref[j] * ref[j]; });
        worst = Math.min(worst, dot / Math.sqrt(a * b));
      });
      console.log(`q8 .bpk on ${backend}: min cosine to the float64 reference ${worst.toFixed(5)}`);
      assert.ok(worst >= 0.999 && worst < 0.9999999, `q8 .bpk on ${backend}: min cosine ${worst}`);
    }
    const rows = chat.rows.filter((x) => x.prompt === chat.rows[0].prompt);
    const out = await page.evaluate(async ({ rows }) => {
      const { createRanker } = await import('/src/palate.js');
      const r = await createRanker({ model: '/models/packs/all-MiniLM-L6-v2.q8.bpk', rewardModel: '/models/packs/rm-qwen3.f32.bpk', backend: 'cpu' });
      try {
        const scores = await r.score(rows[0].prompt, rows.map((x) => x.response));
        const ranked = await r.rerank(rows[0].prompt, rows.map((x) => x.response));
        const hasTaste = await r.taste().then(() => true, () => false);
        const { wasmMemoryBytes } = await r.stats();
        return { scores, ranked: ranked.length, hasTaste, wasmMemoryBytes };
      } finally {
        r.dispose();
      }
    }, { rows });
    assert.ok(out.hasTaste, 'the taste file carried in the .bpk turns rerank on');
    // stats(): the worker's wasm memory holds at least the 36.6 MB pack it was given.
    assert.ok(out.wasmMemoryBytes > 36e6 && out.wasmMemoryBytes < 2 ** 32, `wasm memory ${out.wasmMemoryBytes}`);
    assert.equal(out.ranked, rows.length);
    out.scores.forEach((s, i) => {
      const want = rows[i].score;
      assert.ok(Math.abs(s - want) / Math.max(Math.abs(want), 1e-2) < 1e-4, `${rows[i].response}: ${s} vs ${want}`);
    });
    await assert.rejects(
      page.evaluate(async () => (await import('/src/palate.js')).createRanker({ model: '/models/packs/all-MiniLM-L6-v2.q8.bpk', precision: 'q4', backend: 'cpu' })),
      /already quantized/,
    );
  });

  for (const [name, expected] of [
    ['missing-tokenizer', /tokenizer\.json: missing \(HTTP 404/],
    ['truncated-weights', /^model\.safetensors: not a valid safetensors file/],
    ['wrong-hidden-size', /^model\.safetensors: .*768.*384|^model\.safetensors: .*384.*768/],
    ['invalid-tokenizer', /^tokenizer\.json: invalid tokenizer/],
  ]) {
    test(`a model folder with ${name} rejects with a readable message`, async () => {
      const message = await page.evaluate(async ({ model }) => {
        const { createRanker } = await import('/src/palate.js');
        try {
          await createRanker({ model, backend: 'cpu' });
          return null;
        } catch (e) {
          return e.message;
        }
      }, { model: `/broken/${name}/` });
      assert.ok(message, 'createRanker resolved for a broken model');
      assert.match(message, expected);
    });
  }

  test('a site without the CPU-only build rejects with a message that names it', async () => {
    // Another origin whose web/pkg-cpu is an empty folder (a deployment that copied only web/pkg).
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-no-build-'));
    const other = await startServer({ port: 0, mounts: { '/models/all-MiniLM-L6-v2/': modelDir, '/pkg-cpu/': empty } });
    const p = await browser.newPage();
    try {
      await p.goto(`${other.url}examples/chat.html`);
      const message = await p.evaluate(async () => {
        const { createRanker } = await import('/src/palate.js');
        try {
          // threads: false, as a page that is not cross-origin isolated gets.
          await createRanker({ model: '/models/all-MiniLM-L6-v2/', backend: 'cpu', threads: false });
          return null;
        } catch (e) {
          return e.message;
        }
      });
      assert.ok(message, 'createRanker resolved without its build');
      console.log(`without web/pkg-cpu: ${message}`);
      assert.match(message, /^cannot load Palate's cpu build \(http:.*\/pkg-cpu\/palate_wasm_bg\.wasm\): .*scripts\/build-wasm\.sh/);
    } finally {
      await p.close();
      await other.close();
      await fs.rm(empty, { recursive: true, force: true });
    }
  });

  // The tiny Qwen3 reward model against transformers' scores (tests/fixtures/rm/chat.json).
  for (const [backend, maxBindingBytes] of [['webgpu', undefined], ['webgpu', 1024], ['cpu', undefined]]) {
    const label = maxBindingBytes ? `${backend} with the binding limit forced to ${maxBindingBytes} bytes` : backend;
    test(`reward-model scores on ${label} match transformers`, async () => {
      const out = await page.evaluate(async ({ backend, maxBindingBytes, rows, timeout }) => {
        const { createRanker } = await import('/src/palate.js');
        const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', rewardModel: '/rm/qwen3/', backend, maxBindingBytes });
        try {
          const prompts = [...new Set(rows.map((x) => x.prompt))];
          const scores = [];
          for (const p of prompts) scores.push(...await r.score(p, rows.filter((x) => x.prompt === p).map((x) => x.response)));
          return { backend: r.backend, scores, onCpu: r.rewardEmbeddingsOnCpu };
        } finally {
          r.dispose();
        }
      }, { backend, maxBindingBytes, rows: chat.rows, timeout: STEP_TIMEOUT_MS });
      assert.equal(out.backend, backend);
      assert.equal(out.onCpu, Boolean(maxBindingBytes), 'the embedding table moves to the CPU only under the forced limit');
      let worst = 0;
      out.scores.forEach((s, i) => {
        const want = chat.rows[i].score;
        const rel = Math.abs(s - want) / Math.max(Math.abs(want), 1e-2);
        worst = Math.max(worst, rel);
        assert.ok(rel < 1e-4, `${backend}: ${chat.rows[i].response}: ${s} vs ${want}`);
      });
      console.log(`reward model on ${label}: max relative error ${worst.toExponential(2)} over ${out.scores.length} responses`);
    });
  }

  // q4 on the CPU is held packed on the host and dequantized by Palate (wasm SIMD lanes); on
  // WebGPU burn holds and dequantizes it. Same file, so the same scores up to float rounding.
  test('a q4 reward-model pack scores the same on the CPU (weights packed on the host) as on WebGPU', async () => {
    const rows = chat.rows.filter((x) => x.prompt === chat.rows[0].prompt);
    const out = await page.evaluate(async ({ rows }) => {
      const { createRanker } = await import('/src/palate.js');
      const scores = {};
      for (const backend of ['cpu', 'webgpu']) {
        const r = await createRanker({ model: '/models/packs/all-MiniLM-L6-v2.q8.bpk', rewardModel: '/models/packs/rm-qwen3.q4.bpk', backend });
        try {
          scores[backend] = await r.score(rows[0].prompt, rows.map((x) => x.response));
        } finally {
          r.dispose();
        }
      }
      return scores;
    }, { rows });
    let worst = 0;
    out.cpu.forEach((s, i) => {
      const rel = Math.abs(s - out.webgpu[i]) / Math.max(Math.abs(out.webgpu[i]), 1e-2);
      worst = Math.max(worst, rel);
      assert.ok(rel < 1e-4, `${rows[i].response}: CPU ${s} vs WebGPU ${out.webgpu[i]}`);
    });
    // Quantized: close to transformers' f32 scores, but not equal to them.
    const drift = out.cpu.map((s, i) => Math.abs(s - rows[i].score));
    assert.ok(Math.max(...drift) > 1e-4 && Math.max(...drift) < 0.5, `q4 drift from f32 ${drift}`);
    console.log(`q4 reward model: CPU vs WebGPU max relative difference ${worst.toExponential(2)}; max drift from f32 ${Math.max(...drift).toFixed(4)}`);
  });

  // SmolLM2-135M-Instruct from its GGUF (a Blob read by byte ranges in the worker) against
  // transformers' float64 forward of the same file (tests/fixtures/gguf, scripts/make_gguf_fixture.py).
  for (const backend of ['cpu', 'webgpu']) {
    test(`SmolLM2 from GGUF on ${backend}: ids and log-probabilities match transformers (and, on the CPU, follow-up likelihood joins the ranking)`, async () => {
      // SwiftShader runs this 135M model slowly: on WebGPU two of the texts (code, and unicode
      // with emoji) and no follow-up likelihood, which the CPU run covers.
      const rowsUsed = backend === 'cpu' ? gguf.rows : gguf.rows.filter((x, i) => i === 1 || i === 3);
      const out = await page.evaluate(async ({ backend, texts, file, full }) => {
        const { createRanker } = await import('/src/palate.js');
        const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', rewardModel: `/smollm2/${file}`, backend });
        try {
          const rows = await r.logprobs(texts);
          if (!full) return { backend: r.backend, rows };
          const flr = await r.score('What is the capital of France?', ['The capital of France is Paris.', 'I like turtles.']);
          const ranked = await r.rerank('What is the capital of France?', ['The capital of France is Paris.', 'I like turtles.']);
          return { backend: r.backend, rows, flr, groups: ranked[0].contributions.map((c) => c.group) };
        } finally {
          r.dispose();
        }
      }, { backend, texts: rowsUsed.map((x) => x.text), file: gguf.model, full: backend === 'cpu' });
      assert.equal(out.backend, backend);
      let worst = 0;
      out.rows.forEach((row, i) => {
        const want = rowsUsed[i];
        assert.deepEqual(row.ids, want.ids, `${backend}: ids of ${JSON.stringify(want.text)}`);
        assert.equal(row.logprobs.length, want.ids.length - 1);
        row.logprobs.forEach((lp, j) => {
          const d = Math.abs(lp - want.logprobs[j + 1]);
          worst = Math.max(worst, d);
          assert.ok(d <= 2e-3, `${backend}: ${JSON.stringify(want.text)} token ${j + 1}: ${lp} vs ${want.logprobs[j + 1]}`);
        });
      });
      assert.equal(out.rows.length, rowsUsed.length);
      if (backend === 'cpu') {
        assert.equal(out.flr.length, 2);
        assert.ok(out.flr.every(Number.isFinite), `follow-up likelihood ${out.flr}`);
        assert.ok(out.groups.includes('reward'), `the reward joins the ranking: ${out.groups}`);
      }
      console.log(`SmolLM2 GGUF on ${backend}: max |Δ log p| ${worst.toExponential(2)} over ${out.rows.length} texts${out.flr ? `; FLR ${out.flr.map((x) => x.toFixed(3))}` : ''}`);
    });
  }

  test('with a reward model, rerank weighs its score as a feature (prior weight 1)', async () => {
    const rows = chat.rows.filter((x) => x.prompt === 'How do I boil an egg?');
    const out = await page.evaluate(async ({ rows }) => {
      const { createRanker } = await import('/src/palate.js');
      const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', rewardModel: '/rm/qwen3/', backend: 'cpu' });
      try {
        const replies = rows.map((x) => x.response);
        return { taste: await r.taste(), ranked: await r.rerank(rows[0].prompt, replies), key: r.profileKey };
      } finally {
        r.dispose();
      }
    }, { rows });
    assert.equal(out.taste.weights[0].name, 'reward');
    assert.equal(out.taste.weights[0].mean, 1);
    const contribution = (i) => out.ranked.find((x) => x.index === i).contributions.find((c) => c.group === 'reward').value;
    // log σ(score − median) is monotone: contributions follow the reward model's order.
    const byScore = rows.map((x, i) => i).sort((a, b) => rows[b].score - rows[a].score);
    const byContribution = rows.map((x, i) => i).sort((a, b) => contribution(b) - contribution(a));
    assert.deepEqual(byContribution, byScore);
  });

  test('score() explains what is missing', async () => {
    const messages = await page.evaluate(async () => {
      const { createRanker } = await import('/src/palate.js');
      const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', backend: 'cpu' });
      const noModel = await r.score('p', ['a']).then(() => null, (e) => e.message);
      r.dispose();
      const broken = await createRanker({ model: '/models/all-MiniLM-L6-v2/', rewardModel: '/rm/nowhere/', backend: 'cpu' })
        .then(() => null, (e) => e.message);
      return { noModel, broken };
    });
    assert.match(messages.noModel, /no reward model is loaded/);
    assert.match(messages.broken, /config\.json: missing \(HTTP 404/);
  });

  test('the demo page loads the default model with backend auto on WebGPU', async () => {
    const demo = await browser.newPage();
    await demo.goto(`${server.url}index.html`);
    await demo.waitForFunction(
      () => document.body.dataset.ready === 'true' || document.getElementById('error').textContent,
      null, { timeout: STEP_TIMEOUT_MS });
    assert.equal(await demo.textContent('#error'), '');
    assert.equal(await demo.textContent('#backend'), 'WebGPU');
    assert.equal(await demo.$$eval('#replies textarea', (t) => t.length), 5, 'a sample conversation is loaded');
    await demo.close();
  });
});
