// The demo page (web/index.html): a conversation, its ranking with explanations, A/B questions,
// the user's weights, and the profile. URL parameters: ?model=URL&backend=auto|webgpu|cpu.
import { createRanker } from './palate.js';
import { SAMPLES } from './samples.js';
import { bars } from './bars.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const model = params.get('model') ?? '/models/all-MiniLM-L6-v2/';
const backend = params.get('backend') ?? 'auto';
// ?rewardModel=/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh smollm2)
// adds a reward model, or a causal LM scored by follow-up likelihood, to the ranking.
const rewardModel = params.get('rewardModel') || undefined;
const MAX_REPLIES = 16;
let ranker = null;
let question = null;

const say = (text) => { $('notice').textContent = text; };
const fail = (e) => { $('error').textContent = e instanceof Error ? e.message : String(e); };
const clearError = () => { $('error').textContent = ''; };

// ---- conversation editing -----------------------------------------------------------------------

function replyFields() {
  return [...document.querySelectorAll('#replies textarea')];
}

function addReply(text = '') {
  if (replyFields().length >= MAX_REPLIES) {
    fail(`The demo takes at most ${MAX_REPLIES} replies.`);
    return;
  }
  const row = document.createElement('div');
  row.className = 'reply';
  const label = document.createElement('b');
  const area = Object.assign(document.createElement('textarea'), { rows: 3, value: text });
  const remove = Object.assign(document.createElement('button'), { type: 'button', textContent: '✕' });
  remove.setAttribute('aria-label', 'remove this reply');
  remove.onclick = () => { row.remove(); renumber(); };
  row.append(label, area, remove);
  $('replies').append(row);
  renumber();
}

function renumber() {
  replyFields().forEach((area, i) => {
    area.previousElementSibling.textContent = String(i + 1);
    area.setAttribute('aria-label', `reply ${i + 1}`);
  });
}

function loadSample(i) {
  const s = SAMPLES[i];
  $('prompt').value = s.prompt;
  $('replies').replaceChildren();
  s.replies.forEach((r) => addReply(r));
  $('ranking').replaceChildren();
  closeQuestion();
}

function conversation() {
  const replies = replyFields().map((a) => a.value).filter((r) => r.trim() !== '');
  if (replies.length < 2) throw new Error('Give at least two replies to compare.');
  return { prompt: $('prompt').value, replies };
}

// ---- ranking ------------------------------------------------------------------------------------

async function rank() {
  clearError();
  let conv;
  try { conv = conversation(); } catch (e) { fail(e); return; }
  $('rank').disabled = true;
  try {
    const ranked = await ranker.rerank(conv.prompt, conv.replies, { conservative: $('conservative').checked ? 1 : undefined });
    $('ranking').replaceChildren(...ranked.map((r) => {
      const li = document.createElement('li');
      li.dataset.index = r.index;
      const text = Object.assign(document.createElement('div'), { className: 'text', textContent: conv.replies[r.index] });
      const why = Object.assign(document.createElement('div'), { className: 'why', textContent: r.explanation });
      const meta = Object.assign(document.createElement('small'), {
        textContent: `reply ${r.index + 1} · reward ${r.reward.toFixed(2)} ± ${r.uncertainty.toFixed(2)}`,
      });
      li.append(text, why, bars(r.contributions.map((c) => ({ label: c.label, value: c.value }))), meta);
      return li;
    }));
  } catch (e) {
    fail(e);
  } finally {
    $('rank').disabled = false;
  }
}

// ---- questions ----------------------------------------------------------------------------------

function closeQuestion() {
  question = null;
  $('question').hidden = true;
}

async function ask() {
  clearError();
  let conv;
  try { conv = conversation(); } catch (e) { fail(e); return; }
  $('ask').disabled = true;
  try {
    const q = await ranker.nextQuestion(conv.prompt, conv.replies);
    question = { ...q, conv };
    $('card-a').querySelector('span').textContent = conv.replies[q.a];
    $('card-b').querySelector('span').textContent = conv.replies[q.b];
    $('question').hidden = false;
    $('card-a').focus();
  } catch (e) {
    closeQuestion();
    fail(/no pair left/.test(e.message) ? 'Palate has asked about every useful pair of these replies. Try another conversation.' : e);
  } finally {
    $('ask').disabled = false;
  }
}

async function answer(choice) {
  if (!question) return;
  const q = question;
  closeQuestion();
  try {
    showTaste(await ranker.answer(q.id, choice));
    await rank();
    await ask();
  } catch (e) {
    fail(e);
  }
}

function showTaste(summary) {
  $('answers').textContent = `(${summary.answers} answer${summary.answers === 1 ? '' : 's'})`;
  if (summary.answers > 0) $('profile-status').textContent = `Saved on this device: ${summary.answers} answer${summary.answers === 1 ? '' : 's'}. Export it to keep a copy.`;
  $('weights').replaceChildren(bars(summary.weights.map((w) => ({ label: w.label, value: w.mean, sd: w.sd }))));
}

// ---- profile ------------------------------------------------------------------------------------

async function exportProfile() {
  const json = await ranker.profile.export();
  const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: 'palate-profile.json' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  say('Profile exported as palate-profile.json.');
}

async function importProfile(file) {
  clearError();
  try {
    if (file.size > 10_000_000) throw new Error('That file is too large to be a Palate profile.');
    showTaste(await ranker.profile.import(await file.text()));
    say(`Profile imported from ${file.name}.`);
    if ($('ranking').children.length) await rank();
  } catch (e) {
    fail(`Import refused: ${e.message.replace(/^profile refused: /, '')} Your current profile is unchanged.`);
  }
}

async function forget() {
  showTaste(await ranker.profile.forget());
  say('Palate forgot your answers on this device.');
  if ($('ranking').children.length) await rank();
}

// ---- start --------------------------------------------------------------------------------------

// The wasm and the model download at the same time: the bar and the line show both.
const downloads = { wasm: null, model: null };

function onProgress(p) {
  const mb = (n) => (n / 1e6).toFixed(1);
  if (p.phase === 'wasm') downloads.wasm = p;
  else if (p.phase === 'download' || p.phase === 'cache') downloads.model = p;
  else {
    $('status').textContent = 'building the model…';
    return;
  }
  const parts = [];
  let loaded = 0;
  let total = 0;
  for (const d of [downloads.wasm, downloads.model]) {
    if (!d) continue;
    const what = d.phase === 'wasm' ? 'Palate' : d.phase === 'cache' ? 'model (from this device)' : 'model';
    parts.push(d.total ? `${what} ${mb(d.loaded)} / ${mb(d.total)} MB` : `${what}…`);
    loaded += d.loaded;
    total += d.total;
  }
  if (total) $('progress').value = Math.min(1, loaded / total);
  $('status').textContent = `loading ${parts.join(' · ')}`;
}

async function start() {
  SAMPLES.forEach((s, i) => $('sample').append(new Option(s.prompt, String(i))));
  $('sample').onchange = () => { if ($('sample').value !== '') loadSample(Number($('sample').value)); };
  $('sample').value = '0';
  loadSample(0);
  $('add-reply').onclick = () => addReply();
  $('rank').onclick = rank;
  $('ask').onclick = ask;
  for (const b of document.querySelectorAll('[data-answer]')) b.onclick = () => answer(b.dataset.answer);
  document.addEventListener('keydown', (e) => {
    if (!question || e.ctrlKey || e.metaKey || e.altKey || e.target.matches?.('textarea, input, select')) return;
    const choice = { a: 'a', b: 'b', t: 'tie', s: 'skip' }[e.key.toLowerCase()];
    if (choice) { e.preventDefault(); answer(choice); }
  });
  $('export').onclick = () => exportProfile().catch(fail);
  $('import').onchange = (e) => { const f = e.target.files?.[0]; e.target.value = ''; if (f) importProfile(f); };
  $('forget').onclick = () => forget().catch(fail);

  try {
    ranker = await createRanker({ model, backend, rewardModel, onProgress });
  } catch (e) {
    $('backend').textContent = 'failed';
    $('status').textContent = '';
    fail(e);
    return;
  }
  $('backend').textContent = ranker.backend === 'webgpu' ? 'WebGPU' : 'CPU';
  $('progress').value = 1;
  $('status').textContent = ranker.fromCache ? 'ready (model read from this device)' : 'ready';
  const ps = ranker.profileStatus;
  if (ps.state !== 'none') showTaste(await ranker.taste());
  $('profile-status').textContent = {
    new: 'A new profile: answer a few questions and Palate learns your taste.',
    restored: 'Your profile was restored from this device.',
    unreadable: ps.message,
    unavailable: ps.message,
    none: ps.message,
  }[ps.state] ?? '';
  if (ps.state === 'unreadable') fail(ps.message);
  if (ps.state === 'none') return;
  for (const id of ['rank', 'ask', 'export', 'import', 'forget']) $(id).disabled = false;
  document.body.dataset.ready = 'true';
}

window.palateDemo = { get ranker() { return ranker; } };
// Keeps the app available offline (the model is cached by the worker); optional.
const appReady = 'serviceWorker' in navigator
  ? navigator.serviceWorker.register(new URL('../sw.js', import.meta.url), { type: 'classic' }).then(() => true, () => false)
  : Promise.resolve(false);
window.palateDemo.offlineReady = appReady;
start();
