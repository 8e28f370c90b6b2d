// The front end in headless Chromium (WebGPU on): the demo ranks, asks and learns; the profile
// survives reloads and export → forget → import; the <palate-rerank> widget renders, emits its
// events and works by keyboard; nothing goes over the network after the model is loaded; model
// files come from Cache Storage on a second visit; bad input gets a readable message.
//
// Interactive flows use backend=cpu: on these machines WebGPU is SwiftShader, where the many
// short sentence embeddings of a rerank take minutes (browser.test.mjs checks WebGPU parity).
// Screenshots go to web/test-results/ (CI artefacts).
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
const artefacts = path.join(root, 'web/test-results');
const STEP = 5 * 60_000;

let server, context, userDataDir;

before(async () => {
  await fs.access(path.join(modelDir, 'palate-taste.json')).catch(() => {
    throw new Error(`${modelDir} has no palate-taste.json: run scripts/fetch-model.sh`);
  });
  await fs.mkdir(artefacts, { recursive: true });
  server = await startServer({ port: 0, mounts: { '/models/all-MiniLM-L6-v2/': modelDir } });
  userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-app-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: { width: 1200, height: 900 },
  });
});

after(async () => {
  await context?.close();
  await server?.close();
  if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true });
});

async function openDemo(query = 'backend=cpu') {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[demo]', m.text()); });
  await page.goto(`${server.url}index.html?${query}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.getElementById('error').textContent, null, { timeout: STEP });
  assert.equal(await page.textContent('#error'), '', 'the demo reports an error');
  // Let the service worker finish installing and checking for updates before a test counts requests.
  await page.evaluate(async () => {
    if (await window.palateDemo.offlineReady) await (await navigator.serviceWorker.ready).update();
  });
  return page;
}

const words = (t) => t.split(/\s+/).filter(Boolean).length;

async function ranking(page) {
  return page.$$eval('#ranking li .text', (els) => els.map((e) => e.textContent));
}

async function rank(page) {
  const before = await page.$$eval('#ranking li', (l) => l.length);
  await page.click('#rank');
  await page.waitForFunction((n) => document.querySelectorAll('#ranking li').length > 0 && !document.getElementById('rank').disabled, before, { timeout: STEP });
  return ranking(page);
}

/** Screenshot checked to show content: many colours and enough non-background pixels. */
async function screenshot(page, name, locator) {
  const file = path.join(artefacts, `${name}.png`);
  const png = await (locator ?? page).screenshot({ path: file, ...(locator ? {} : { fullPage: true }) });
  const stats = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = new OffscreenCanvas(img.width, img.height);
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, img.width, img.height).data;
    const colours = new Set();
    const bg = `${d[0]},${d[1]},${d[2]}`;
    let other = 0;
    for (let i = 0; i < d.length; i += 4) {
      const k = `${d[i]},${d[i + 1]},${d[i + 2]}`;
      colours.add(k);
      if (k !== bg) other++;
    }
    return { colours: colours.size, inked: other / (d.length / 4), width: img.width, height: img.height };
  }, png.toString('base64'));
  assert.ok(stats.colours >= 30 && stats.inked >= 0.01, `${name}.png looks blank: ${JSON.stringify(stats)}`);
  return stats;
}

describe('the front end', { timeout: 30 * 60_000 }, () => {
  test('demo: ranks a sample, learns from 5 answers (keyboard), and the ranking follows them', async () => {
    const page = await openDemo();
    assert.match(await page.textContent('#backend'), /^(CPU|WebGPU)$/);
    const before = await rank(page);
    assert.equal(before.length, 5);
    assert.ok((await page.$$eval('#ranking .why', (e) => e.map((x) => x.textContent))).every((t) => t.startsWith('Ranked')));

    // Answer 5 questions, always for the shorter reply, by keyboard (A / B).
    await page.click('#ask');
    const chosen = [];
    for (let i = 1; i <= 5; i++) {
      await page.waitForFunction(() => !document.getElementById('question').hidden, null, { timeout: STEP });
      const a = await page.textContent('#card-a span');
      const b = await page.textContent('#card-b span');
      chosen.push(words(a) <= words(b) ? a : b);
      await page.keyboard.press(words(a) <= words(b) ? 'a' : 'b');
      await page.waitForFunction((n) => document.getElementById('answers').textContent === `(${n} answer${n === 1 ? '' : 's'})`, i, { timeout: STEP });
    }
    await page.waitForFunction(() => !document.getElementById('rank').disabled, null, { timeout: STEP });
    const afterRanking = await ranking(page);
    // The direction of the answers: shorter replies move up. Mean position of replies weighted
    // by shortness: rank correlation between position and word count must rise.
    const corr = (list) => {
      const n = list.length;
      const byLen = [...list].sort((x, y) => words(x) - words(y));
      const lenRank = (t) => byLen.indexOf(t);
      const d2 = list.reduce((acc, t, pos) => acc + (pos - lenRank(t)) ** 2, 0);
      return 1 - (6 * d2) / (n * (n * n - 1)); // Spearman: +1 = shortest first
    };
    console.log(`ranking vs shortness (Spearman): before ${corr(before).toFixed(2)}, after ${corr(afterRanking).toFixed(2)}`);
    assert.ok(corr(afterRanking) > corr(before), `shorter replies should move up:\nbefore ${JSON.stringify(before.map(words))}\nafter ${JSON.stringify(afterRanking.map(words))}`);
    assert.match(await page.textContent('#answers'), /\(5 answers\)/);
    await screenshot(page, 'demo-light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'demo-dark');
    await page.close();
  });

  test('the profile survives a reload, and export → forget → import restores it', async () => {
    const page = await openDemo();
    assert.match(await page.textContent('#answers'), /\(5 answers\)/, 'answers from the previous test were restored');
    assert.match(await page.textContent('#profile-status'), /restored/);
    const weights = await page.evaluate(() => window.palateDemo.ranker.taste());

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const file = path.join(artefacts, 'profile.json');
    await download.saveAs(file);
    const profile = JSON.parse(await fs.readFile(file, 'utf8'));
    assert.equal(profile.schema, 'palate-profile');
    assert.equal(profile.history.length, 5);

    await page.click('#forget');
    await page.waitForFunction(() => document.getElementById('answers').textContent === '(0 answers)', null, { timeout: STEP });
    await page.setInputFiles('#import', file);
    await page.waitForFunction(() => document.getElementById('answers').textContent === '(5 answers)', null, { timeout: STEP });
    const restored = await page.evaluate(() => window.palateDemo.ranker.taste());
    restored.weights.forEach((w, i) => assert.ok(Math.abs(w.mean - weights.weights[i].mean) < 1e-9, w.name));

    // A random JSON file is refused with a message; the profile stays.
    const junk = path.join(artefacts, 'not-a-profile.json');
    await fs.writeFile(junk, JSON.stringify({ hello: 'world', numbers: [1, 2, 3] }));
    await page.setInputFiles('#import', junk);
    await page.waitForFunction(() => /Import refused/.test(document.getElementById('error').textContent), null, { timeout: STEP });
    assert.match(await page.textContent('#error'), /not a Palate profile.*unchanged/);
    assert.equal(await page.textContent('#answers'), '(5 answers)');
    await page.close();
  });

  test('privacy: no network request after the model is loaded; a second visit works with the network down', async () => {
    const page = await openDemo();
    const requests = [];
    const record = (r) => requests.push(r.url());
    context.on('request', record);
    try {
      await rank(page);
      await page.click('#ask');
      await page.waitForFunction(() => !document.getElementById('question').hidden, null, { timeout: STEP });
      await page.keyboard.press('t');
      await page.waitForFunction(() => document.getElementById('answers').textContent === '(6 answers)', null, { timeout: STEP });
      await page.evaluate(async () => {
        const r = window.palateDemo.ranker;
        await r.embed(['private text']);
        const json = await r.profile.export();
        await r.profile.forget();
        await r.profile.import(json);
      });
      await page.click('#export');
    } finally {
      context.off('request', record);
    }
    assert.deepEqual(requests.filter((u) => !u.startsWith('blob:') && !u.startsWith('data:')), [], 'requests after load');
    await page.close();

    // Second visit with the network down (the server drops every request): the app comes from
    // the service worker's cache, the model from Cache Storage, the profile from IndexedDB.
    const warm = await context.newPage();
    await warm.goto(`${server.url}index.html?backend=cpu`);
    await warm.evaluate(async () => { await window.palateDemo.offlineReady; await navigator.serviceWorker.ready; });
    await warm.close();
    server.setOffline(true);
    try {
      const second = await context.newPage();
      await second.goto(`${server.url}index.html?backend=cpu`);
      await second.waitForFunction(() => document.body.dataset.ready === 'true' || document.getElementById('error').textContent, null, { timeout: STEP });
      assert.equal(await second.textContent('#error'), '');
      assert.match(await second.textContent('#status'), /read from this device/);
      const fromCache = await second.evaluate(() => window.palateDemo.ranker.fromCache);
      assert.ok(fromCache > 80e6, `model bytes from the cache: ${fromCache}`);
      assert.match(await second.textContent('#answers'), /\(6 answers\)/, 'the profile is there offline too');
      const offlineRank = await rank(second);
      assert.equal(offlineRank.length, 5, 'ranking works offline');
      console.log(`offline visit: ${(fromCache / 1e6).toFixed(1)} MB of model from Cache Storage, app from the service worker`);
      await second.close();
    } finally {
      server.setOffline(false);
    }
  });

  test('bad input gets a readable message and no hang', async () => {
    const page = await openDemo();
    // 1 and 0 replies in the UI.
    await page.$$eval('#replies .reply', (rows) => rows.slice(1).forEach((r) => r.remove()));
    await page.click('#rank');
    assert.match(await page.textContent('#error'), /at least two replies/);
    await page.$$eval('#replies .reply', (rows) => rows.forEach((r) => r.remove()));
    await page.click('#ask');
    assert.match(await page.textContent('#error'), /at least two replies/);
    const results = await page.evaluate(async () => {
      const r = window.palateDemo.ranker;
      const outcome = async (p) => p.then((v) => ({ ok: true, v }), (e) => ({ ok: false, message: e.message }));
      const t0 = performance.now();
      const many = await outcome(r.rerank('p', Array.from({ length: 200 }, (_, i) => `reply ${i}`)));
      const huge = await outcome(r.rerank('p', ['x'.repeat(1 << 20), 'short']));
      const none = await outcome(r.rerank('p', []));
      const notStrings = await outcome(r.rerank('p', [1, 2]));
      const surrogate = await outcome(r.rerank('p', ['\uD800 lone surrogate', 'fine reply']));
      const badAnswer = await outcome(r.answer(999999, 'a'));
      const badKind = await outcome(r.answer(1, 'maybe'));
      return { many, huge, none, notStrings, surrogate, badAnswer, badKind, ms: performance.now() - t0 };
    });
    assert.match(results.many.message, /200 replies given; Palate ranks at most 64/);
    assert.match(results.huge.message, /reply 1 is 1048576 characters long/);
    assert.match(results.none.message, /at least 1 candidates, got 0/);
    assert.match(results.notStrings.message, /array of strings/);
    assert.ok(results.surrogate.ok && results.surrogate.v.length === 2, JSON.stringify(results.surrogate));
    assert.match(results.badAnswer.message, /no open question with id 999999/);
    assert.match(results.badKind.message, /answer must be 'a', 'b', 'tie' or 'skip'/);
    assert.ok(results.ms < 60_000, `bad input took ${results.ms} ms`);
    assert.match(await page.textContent('#answers'), /\(6 answers\)/, 'the profile is intact');
    await page.close();
  });

  test('a corrupt stored profile is kept aside, reported, and not deleted', async () => {
    const page = await openDemo();
    const key = await page.evaluate(() => window.palateDemo.ranker.profileKey);
    const idb = (op, k, v) => page.evaluate(({ op, k, v }) => new Promise((resolve, reject) => {
      const open = indexedDB.open('palate', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('profiles');
      open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction('profiles', op === 'get' || op === 'keys' ? 'readonly' : 'readwrite');
        const store = tx.objectStore('profiles');
        const req = op === 'put' ? store.put(v, k) : op === 'keys' ? store.getAllKeys() : store.get(k);
        tx.oncomplete = () => { db.close(); resolve(req.result); };
        tx.onerror = () => reject(tx.error);
      };
      open.onerror = () => reject(open.error);
    }), { op, k, v });
    await idb('put', key, '{"schema": "palate-profile", "version": 1, "history": [tru');
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: STEP });
    const message = await page.textContent('#error');
    assert.match(message, /saved profile could not be read .* kept aside as ".*:unreadable:\d+"/);
    const keys = await idb('keys');
    const aside = keys.find((k) => k.startsWith(`${key}:unreadable:`));
    assert.ok(aside, `kept-aside key among ${keys}`);
    assert.equal(await idb('get', aside), '{"schema": "palate-profile", "version": 1, "history": [tru');
    assert.equal(await page.textContent('#answers'), '(0 answers)');
    await page.close();
  });

  test('own principles replace the defaults and keep their own profile', async () => {
    const page = await openDemo();
    const out = await page.evaluate(async () => {
      const { createRanker } = await import('/src/palate.js');
      const r = await createRanker({
        model: '/models/all-MiniLM-L6-v2/', backend: 'cpu',
        principles: [{ name: 'playful', label: 'playful', goal: 'A playful, joking reply full of fun and emoji! 😄' },
          { name: 'dry', goal: 'A dry, strictly factual reply.' }],
      });
      try {
        const replies = ['Haha, great question! 😄 Veggies are secret superheroes, so let\'s make them fun!', 'Offer vegetables repeatedly without pressure.'];
        const taste = await r.taste();
        const ranked = await r.rerank('How do I get my toddler to eat vegetables?', replies);
        const bad = await createRanker({ model: '/models/all-MiniLM-L6-v2/', backend: 'cpu', principles: [{ name: 'x' }] })
          .then(() => 'resolved', (e) => e.message);
        return { names: taste.weights.map((w) => w.name), key: r.profileKey, defaultKey: window.palateDemo.ranker.profileKey,
          groups: ranked[0].contributions.map((c) => c.group), bad };
      } finally {
        r.dispose();
      }
    });
    // The shared reward and the cues come first and stay; own principles replace the defaults.
    assert.deepEqual(out.names.slice(0, 6), ['shared', 'length', 'sentences', 'on-topic', 'playful', 'dry']);
    assert.deepEqual(out.groups, ['shared', 'length', 'sentences', 'on-topic', 'playful', 'dry', 'taste']);
    assert.notEqual(out.key, out.defaultKey);
    assert.match(out.bad, /list of \{ name, goal/);
    await page.close();
  });

  test('<palate-rerank> in examples/chat.html: renders, emits events, works by keyboard', async () => {
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('[chat]', m.text()); });
    await page.goto(`${server.url}examples/chat.html?backend=cpu&ask=always`);
    await page.evaluate(() => {
      window.events = [];
      for (const t of ['palate-ranked', 'palate-answer', 'palate-error']) {
        document.addEventListener(t, (e) => window.events.push({ type: t, detail: JSON.parse(JSON.stringify(e.detail)) }));
      }
    });
    await page.keyboard.press('Tab'); // focus the message box
    await page.keyboard.press('Enter'); // send the prefilled message
    await page.waitForFunction(() => window.events.some((e) => e.type === 'palate-ranked'), null, { timeout: STEP });
    const widget = page.locator('palate-rerank');
    const ranked = await page.evaluate(() => window.events.find((e) => e.type === 'palate-ranked').detail);
    assert.equal(ranked.ranking.length, 5);
    assert.equal(await widget.locator('.best').textContent(), ranked.replies[ranked.ranking[0].index]);

    // "Other replies" by keyboard.
    const toggle = widget.locator('button.toggle');
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    assert.equal(await widget.locator('ol li').count(), 4);
    assert.ok(await widget.locator('ol').isVisible());

    // The question (ask=always), answered with the B key.
    const card = widget.locator('.ask .card').first();
    await card.waitFor({ timeout: STEP });
    await card.focus();
    await page.keyboard.press('b');
    await page.waitForFunction(() => window.events.some((e) => e.type === 'palate-answer'), null, { timeout: STEP });
    const answered = await page.evaluate(() => window.events.find((e) => e.type === 'palate-answer').detail);
    assert.equal(answered.answer, 'b');
    assert.ok(answered.summary.answers >= 1);
    assert.equal(await page.evaluate(() => window.events.filter((e) => e.type === 'palate-error').length), 0);
    await page.waitForFunction(() => window.events.filter((e) => e.type === 'palate-ranked').length >= 2, null, { timeout: STEP });

    await screenshot(page, 'widget-light', widget);
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'widget-dark', widget);
    // Phone width: the widget stays within the viewport.
    await page.setViewportSize({ width: 375, height: 800 });
    const box = await widget.boundingBox();
    assert.ok(box.width <= 375, `widget is ${box.width}px wide on a 375px screen`);
    await screenshot(page, 'widget-phone');
    await page.close();
  });
});
