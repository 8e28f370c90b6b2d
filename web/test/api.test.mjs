// The JavaScript API's contract with a web developer, in headless Chromium on the CPU backend:
// every rejection a PalateError with a stable code, AbortSignal on calls (a queued call that is
// aborted never runs), Symbol.dispose, a dead worker rejecting with 'worker-crashed', a wasm trap
// replaced by a fresh worker with the profile unchanged, and the widget disposing the rankers it
// loaded.
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
const MODEL = '/models/all-MiniLM-L6-v2/';

let server, context, page, userDataDir, extraDir;

before(async () => {
  await fs.access(path.join(modelDir, 'palate-taste.json')).catch(() => {
    throw new Error(`${modelDir} has no palate-taste.json: run scripts/fetch-model.sh`);
  });
  extraDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-api-'));
  await fs.writeFile(path.join(extraDir, 'garbage.bpk'), Buffer.from('not a pack at all, just bytes'.repeat(40)));
  await fs.writeFile(path.join(extraDir, 'dies.js'), 'throw new Error("this worker dies at start");\n');
  await fs.writeFile(path.join(extraDir, 'blank.html'), '<!doctype html><title>blank</title><body></body>\n');
  server = await startServer({ port: 0, mounts: { [MODEL]: modelDir, '/extra/': extraDir } });
  userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
  await page.goto(`${server.url}extra/blank.html`);
});

after(async () => {
  await context?.close();
  await server?.close();
  for (const dir of [userDataDir, extraDir]) if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Runs `fn` in the page; a rejection comes back as { name, code, message }. */
const settle = (fn, arg) => page.evaluate(async ({ src, arg }) => {
  // eslint-disable-next-line no-new-func
  const f = new Function('palate', 'arg', `return (${src})(palate, arg);`);
  const palate = await import('/src/palate.js');
  try {
    return { ok: await f(palate, arg) };
  } catch (e) {
    return { name: e?.name, code: e?.code, message: e?.message, isPalateError: e instanceof palate.PalateError };
  }
}, { src: fn.toString(), arg });

describe('the JavaScript API', { timeout: 10 * 60_000 }, () => {
  test('failed loads reject with PalateError codes: model-missing, model-invalid, input-invalid, worker-crashed', async () => {
    const cases = [
      ['model-missing', '/nothing/here/'],
      ['model-missing', '/extra/absent.bpk'],
      ['model-invalid', '/extra/garbage.bpk'],
    ];
    for (const [code, model] of cases) {
      const got = await settle((p, model) => p.createRanker({ model, backend: 'cpu' }), model);
      assert.equal(got.ok, undefined, `${model} loaded`);
      assert.ok(got.isPalateError, `${model}: ${got.name} is not a PalateError`);
      assert.equal(got.code, code, `${model}: ${got.message}`);
      console.log(`${model}: ${got.code}: ${got.message}`);
    }
    const bad = await settle((p) => p.createRanker({ model: '/m/', backend: 'tpu' }));
    assert.equal(bad.code, 'input-invalid');
    assert.match(bad.message, /unknown backend "tpu"/);
    const dead = await settle((p) => p.createRanker({ model: '/m/', workerUrl: '/extra/dies.js' }));
    assert.equal(dead.code, 'worker-crashed');
    assert.match(dead.message, /worker failed/);
    const aborted = await settle(async (p) => {
      const controller = new AbortController();
      const loading = p.createRanker({ model: '/models/all-MiniLM-L6-v2/', backend: 'cpu', signal: controller.signal });
      setTimeout(() => controller.abort(new Error('the user left')), 10);
      return loading;
    });
    assert.equal(aborted.code, 'aborted');
    assert.match(aborted.message, /the user left/);
    assert.deepEqual(
      (await page.evaluate(async () => (await import('/src/palate.js')).ERROR_CODES)),
      ['model-missing', 'model-invalid', 'no-webgpu', 'aborted', 'profile-corrupt', 'input-invalid', 'worker-crashed'],
    );
  });

  test('calls reject with input-invalid and profile-corrupt; an aborted queued answer never runs; Symbol.dispose', async () => {
    const out = await page.evaluate(async (model) => {
      const { createRanker } = await import('/src/palate.js');
      const code = (p) => p.then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
      const r = await createRanker({ model, backend: 'cpu' });
      await r.profile.forget();
      const replies = ['Short.', 'A longer reply with more words in it.', 'Another reply, of middle length.'];
      const results = {
        notStrings: await code(r.rerank('p', [1, 2])),
        tooMany: await code(r.rerank('p', Array.from({ length: 65 }, (_, i) => `reply ${i}`))),
        badAnswer: await code(r.answer(1, 'maybe')),
        corrupt: await code(r.profile.import('{"version": 1, "weights": "nope"}')),
        notJson: await code(r.profile.import('{')),
        tooManyTexts: await code(r.embed(Array.from({ length: 1025 }, () => 'a'))),
      };
      // A long call keeps the worker busy; an answer queued behind it is aborted before it starts.
      const q = await r.nextQuestion('p', replies);
      const long = Array.from({ length: 48 }, (_, i) => `${'a fairly long sentence to embed '.repeat(12)} ${i}`);
      const busy = r.embed(long);
      const controller = new AbortController();
      const answered = code(r.answer(q.id, 'a', { signal: controller.signal }));
      setTimeout(() => controller.abort(), 20);
      results.abortedAnswer = await answered;
      await busy;
      results.answersAfterAbort = (await r.taste()).answers;
      // An already-aborted signal rejects at once.
      results.preAborted = await code(r.taste({ signal: AbortSignal.abort() }));
      r[Symbol.dispose]();
      results.afterDispose = await code(r.rerank('p', replies));
      return results;
    }, MODEL);
    console.log(out);
    assert.match(out.notStrings, /^input-invalid: rerank\(\) takes the replies as an array of strings/);
    assert.match(out.tooMany, /^input-invalid: .*65 replies given; Palate ranks at most 64/);
    assert.match(out.badAnswer, /^input-invalid: answer must be/);
    assert.match(out.corrupt, /^profile-corrupt: /);
    assert.match(out.notJson, /^profile-corrupt: /);
    assert.match(out.tooManyTexts, /^input-invalid: .*1025 texts given; Palate takes at most 1024/);
    assert.match(out.abortedAnswer, /^aborted: /);
    assert.equal(out.answersAfterAbort, 0, 'the aborted answer was dropped by the worker, not applied');
    assert.match(out.preAborted, /^aborted: /);
    assert.match(out.afterDispose, /^aborted: the ranker was disposed/);
  });

  test('a wasm trap: pending calls reject with worker-crashed, a fresh worker takes over, the profile is unchanged', async () => {
    const out = await page.evaluate(async (model) => {
      const { createRanker } = await import('/src/palate.js');
      const replies = ['Short.', 'A longer reply with more words in it.', 'Another reply, of middle length.'];
      const r = await createRanker({ model, backend: 'cpu' });
      try {
        await r.profile.forget();
        const q = await r.nextQuestion('p', replies);
        await r.answer(q.id, 'b');
        const before = await r.profile.export();
        const restarted = new Promise((resolve) => r.addEventListener('restart', (e) => resolve(e.detail.reason), { once: true }));
        const trapped = await r._trapForTests().then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
        const t0 = performance.now();
        const ranked = await r.rerank('p', replies); // waits for the fresh worker
        const reason = await restarted;
        const after = await r.profile.export();
        return {
          before, after, trapped, reason, ms: performance.now() - t0, ranked: ranked.length,
          same: after === before, answers: (await r.taste()).answers,
        };
      } finally {
        r.dispose();
      }
    }, MODEL);
    console.log(`after a trap: the next rerank answered in ${out.ms.toFixed(0)} ms; ${out.reason}`);
    assert.match(out.trapped, /^worker-crashed: .*trapped/);
    assert.match(out.reason, /trapped/);
    assert.equal(out.ranked, 3);
    if (!out.same) console.log(out.before, '\n', out.after);
    assert.ok(out.same, 'the profile after the restart is the one stored before the trap');
    assert.equal(out.answers, 1);
  });

  test('the widget disposes a ranker it loaded when removed or when its model changes', async () => {
    // Palate's own workers: a threaded build's pool (blob: URLs, one per core) lives and dies with its worker.
    const workers = () => page.workers().filter((w) => w.url().endsWith('/worker.js')).length;
    const settleTo = async (n) => {
      const deadline = Date.now() + 10_000;
      while (workers() !== n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return workers();
    };
    // Every ranker the tests above made was disposed: no worker is left.
    const base = await settleTo(0);
    assert.equal(base, 0, 'workers left over by disposed rankers');
    const ranked = () => page.evaluate(() => new Promise((resolve, reject) => {
      const w = document.getElementById('w');
      w.addEventListener('palate-ranked', () => resolve(), { once: true });
      w.addEventListener('palate-error', (e) => reject(new Error(e.detail.message)), { once: true });
    }));
    await page.evaluate(async (model) => {
      await import('/src/palate-rerank.js');
      const w = document.createElement('palate-rerank');
      w.id = 'w';
      w.setAttribute('backend', 'cpu');
      w.setAttribute('ask', 'never');
      w.setAttribute('model', model);
      w.replies = ['Boil it for seven minutes.', 'Eggs are food.'];
      document.body.append(w);
    }, MODEL);
    await ranked();
    assert.equal(workers(), base + 1, 'the widget started one worker');
    // Another model URL (same files, another key): the old ranker is disposed, a new one loads.
    const done = ranked();
    await page.evaluate((model) => document.getElementById('w').setAttribute('model', `${model}?copy=2`), MODEL);
    await done;
    assert.equal(await settleTo(base + 1), base + 1, 'after a model change, one worker: the old one was terminated');
    // Moving the element keeps its ranker; removing it disposes the ranker.
    await page.evaluate(() => { const w = document.getElementById('w'); document.body.prepend(w); });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(workers(), base + 1, 'moving the widget kept its worker');
    await page.evaluate(() => document.getElementById('w').remove());
    assert.equal(await settleTo(base), base, 'removing the widget terminated its worker');
  });
});
