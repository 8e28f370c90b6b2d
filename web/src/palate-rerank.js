// <palate-rerank>: shows the reply this user will like best, the others on demand with the reason
// for the order, and now and then (rate-limited, dismissible, never blocking) an A/B question.
//
//   <script type="module" src="/src/palate-rerank.js"></script>
//   <palate-rerank model="/models/all-MiniLM-L6-v2/" prompt="How do I …?">
//     <p>first candidate reply</p>
//     <p>second candidate reply</p>
//   </palate-rerank>
//
// Replies: the `replies` property (array of strings) or the element's children (their text).
// Attributes: model (URL of the model folder), backend (auto|webgpu|cpu), prompt,
//   ask (auto: at most one question per ask-interval seconds, default 120 | always | never),
//   conservative (number ≥ 0: rank by reward − conservative·uncertainty).
// Property `ranker`: share an existing ranker from createRanker() instead of loading one (the
//   widget never disposes a ranker it was given). Widgets on one page with the same model and
//   backend share one ranker; it is disposed when the last of them is removed or changes model.
// Events (bubbling, composed): palate-ranked {ranking, replies}, palate-answer {questionId, answer,
//   summary}, palate-error {message}.
// Theme with CSS custom properties: --palate-bg, --palate-fg, --palate-muted, --palate-accent,
//   --palate-border, --palate-radius, --palate-font.
import { createRanker } from './palate.js';
import { bars } from './bars.js';

// model URL + backend → { ranker: Promise<Ranker>, users: Set<PalateRerank> }: one ranker per model
// for every widget on the page, disposed when no widget uses it any more.
const rankers = new Map();
let lastAsked = 0;

function acquireRanker(key, model, backend, user) {
  let entry = rankers.get(key);
  if (!entry) {
    entry = { ranker: createRanker({ model, backend }), users: new Set() };
    const created = entry;
    created.ranker.catch(() => { if (rankers.get(key) === created) rankers.delete(key); });
    rankers.set(key, entry);
  }
  entry.users.add(user);
  return entry.ranker;
}

function releaseRanker(key, user) {
  const entry = rankers.get(key);
  if (!entry || !entry.users.delete(user) || entry.users.size > 0) return;
  rankers.delete(key);
  entry.ranker.then((r) => r.dispose(), () => {});
}

const isAbort = (e) => e?.code === 'aborted';

const STYLE = `
:host { display: block; font: var(--palate-font, inherit); color: var(--palate-fg, inherit);
  --bg: var(--palate-bg, #f6f6f9); --muted: var(--palate-muted, #6b6b76); --accent: var(--palate-accent, #5b3cc4);
  --border: var(--palate-border, #d9d9e0); --radius: var(--palate-radius, .6rem); }
.box { background: var(--bg); border: 1px solid var(--border); border-radius: var(--radius); padding: .8rem; }
.best { white-space: pre-wrap; }
.why { color: var(--muted); font-size: .85em; margin-top: .4rem; }
button { font: inherit; color: inherit; background: transparent; border: 1px solid var(--border);
  border-radius: calc(var(--radius) / 1.5); padding: .3rem .7rem; cursor: pointer; }
button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.toggle { margin-top: .5rem; }
ol { padding-left: 1.2rem; margin: .5rem 0 0; } li { margin: .5rem 0; } li .text { white-space: pre-wrap; }
.ask { margin-top: .7rem; border-top: 1px dashed var(--border); padding-top: .6rem; }
.ask .cards { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; margin: .4rem 0; }
@media (max-width: 480px) { .ask .cards { grid-template-columns: 1fr; } }
.ask .card { text-align: left; white-space: pre-wrap; }
.ask .card b { color: var(--accent); display: block; }
.row { display: flex; gap: .4rem; flex-wrap: wrap; align-items: center; }
.status { color: var(--muted); font-size: .85em; }
.error { color: #c0392b; }
.bars { display: grid; grid-template-columns: 8rem 1fr; gap: .1rem .4rem; font-size: .75em; margin-top: .3rem; }
.bar { position: relative; height: .7rem; }
.bar i { position: absolute; top: .1rem; height: .5rem; border-radius: .2rem; background: var(--accent); }
.bar i.neg { opacity: .45; }
`;

export class PalateRerank extends HTMLElement {
  static observedAttributes = ['prompt', 'model', 'backend', 'ask', 'conservative'];
  #replies = null;
  #ranker = null;
  #root;
  #generation = 0;
  #question = null;
  #expanded = false;
  #ownedKey = null; // key of the shared ranker this widget loaded (not one it was given)
  #inflight = null; // AbortController of the refresh in progress

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    this.#root.innerHTML = `<style>${STYLE}</style><div class="box" part="box"><div class="status" role="status">Palate is loading…</div></div>`;
    this.#root.addEventListener('keydown', (e) => this.#onKey(e));
  }

  get replies() { return this.#replies ?? [...this.children].map((c) => c.textContent.trim()).filter(Boolean); }
  set replies(list) { this.#replies = Array.isArray(list) ? list.map(String) : null; this.#schedule(); }
  get prompt() { return this.getAttribute('prompt') ?? ''; }
  set prompt(p) { this.setAttribute('prompt', p); }
  get ranker() { return this.#ranker; }
  set ranker(r) {
    this.#ranker = r;
    if (r) this.#release();
    this.#schedule();
  }

  connectedCallback() {
    this.#observer = new MutationObserver(() => { if (!this.#replies) this.#schedule(); });
    this.#observer.observe(this, { childList: true, subtree: true, characterData: true });
    this.#schedule();
  }
  disconnectedCallback() {
    this.#observer?.disconnect();
    this.#inflight?.abort();
    // Moving the element fires disconnected then connected at once: release only if it stays out.
    queueMicrotask(() => { if (!this.isConnected) this.#release(); });
  }
  attributeChangedCallback() { if (this.isConnected) this.#schedule(); }

  #observer = null;
  #pending = false;
  #schedule() {
    if (this.#pending) return;
    this.#pending = true;
    queueMicrotask(() => { this.#pending = false; this.refresh(); });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #box() { return this.#root.querySelector('.box'); }

  #error(message) {
    const p = document.createElement('p');
    p.className = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = message;
    this.#box().replaceChildren(p);
    this.#emit('palate-error', { message });
  }

  async #getRanker() {
    if (this.#ranker) return this.#ranker;
    const model = this.getAttribute('model');
    if (!model) throw new Error('<palate-rerank> needs a model="…" attribute or a ranker property');
    const url = new URL(model, location.href).href;
    const backend = this.getAttribute('backend') ?? 'auto';
    const key = `${backend} ${url}`;
    if (key !== this.#ownedKey) {
      this.#release();
      this.#ownedKey = key;
    }
    return acquireRanker(key, url, backend, this);
  }

  #release() {
    if (this.#ownedKey) releaseRanker(this.#ownedKey, this);
    this.#ownedKey = null;
  }

  /** Ranks the current replies again (called automatically when they change). */
  async refresh() {
    const generation = ++this.#generation;
    // A newer refresh makes the one in flight stale: abort it, so the worker drops it if queued.
    this.#inflight?.abort();
    const controller = new AbortController();
    this.#inflight = controller;
    const { signal } = controller;
    const replies = this.replies;
    if (replies.length === 0) { this.#box().replaceChildren(); return; }
    let ranker, ranking;
    try {
      ranker = await this.#getRanker();
      if (replies.length === 1) {
        ranking = [{ index: 0, reward: 0, uncertainty: 0, explanation: 'The only reply.', contributions: [] }];
      } else {
        const c = Number(this.getAttribute('conservative'));
        ranking = await ranker.rerank(this.prompt, replies, { conservative: Number.isFinite(c) && c > 0 ? c : undefined, signal });
      }
    } catch (e) {
      if (generation === this.#generation && !isAbort(e)) this.#error(e.message);
      return;
    }
    if (generation !== this.#generation) return; // replies changed meanwhile
    this.#render(replies, ranking);
    this.#emit('palate-ranked', { ranking, replies });
    if (replies.length >= 2 && this.#shouldAsk()) this.#ask(ranker, replies, generation, signal);
  }

  #shouldAsk() {
    const mode = this.getAttribute('ask') ?? 'auto';
    if (mode === 'never') return false;
    if (mode === 'always') return true;
    const interval = 1000 * (Number(this.getAttribute('ask-interval')) || 120);
    return Date.now() - lastAsked >= interval;
  }

  #render(replies, ranking) {
    const [best, ...rest] = ranking;
    const box = this.#box();
    const bestEl = document.createElement('div');
    bestEl.className = 'best';
    bestEl.setAttribute('part', 'best');
    bestEl.textContent = replies[best.index];
    const why = document.createElement('div');
    why.className = 'why';
    why.textContent = best.explanation;
    box.replaceChildren(bestEl, why);
    if (rest.length) {
      const toggle = document.createElement('button');
      toggle.className = 'toggle';
      toggle.type = 'button';
      const list = document.createElement('ol');
      list.start = 2;
      list.id = 'others';
      for (const r of rest) {
        const li = document.createElement('li');
        const text = Object.assign(document.createElement('div'), { className: 'text', textContent: replies[r.index] });
        const w = Object.assign(document.createElement('div'), { className: 'why', textContent: r.explanation });
        li.append(text, w, bars(r.contributions.map((c) => ({ label: c.label, value: c.value }))));
        list.append(li);
      }
      const sync = () => {
        list.hidden = !this.#expanded;
        toggle.textContent = this.#expanded ? 'Hide other replies' : `Other replies (${rest.length})`;
        toggle.setAttribute('aria-expanded', String(this.#expanded));
      };
      toggle.setAttribute('aria-controls', 'others');
      toggle.onclick = () => { this.#expanded = !this.#expanded; sync(); };
      sync();
      box.append(toggle, list);
    }
  }

  async #ask(ranker, replies, generation, signal) {
    let q;
    try {
      q = await ranker.nextQuestion(this.prompt, replies, { signal });
    } catch {
      return; // nothing useful to ask: stay quiet
    }
    if (generation !== this.#generation) return;
    lastAsked = Date.now();
    this.#question = { ...q, ranker };
    const ask = document.createElement('section');
    ask.className = 'ask';
    ask.setAttribute('aria-label', 'Which reply do you prefer?');
    ask.innerHTML = `<div class="row"><strong>Which do you prefer?</strong><span class="status">helps Palate learn your taste · keys A B T S</span></div>
      <div class="cards"><button class="card" data-answer="a"><b>A</b></button><button class="card" data-answer="b"><b>B</b></button></div>
      <div class="row"><button data-answer="tie">Tie</button><button data-answer="skip">Skip</button><button data-dismiss>Not now</button></div>`;
    const [a, b] = ask.querySelectorAll('.card');
    a.append(replies[q.a]);
    b.append(replies[q.b]);
    for (const btn of ask.querySelectorAll('[data-answer]')) btn.onclick = () => this.#answer(btn.dataset.answer);
    ask.querySelector('[data-dismiss]').onclick = () => this.#dismiss();
    this.#box().append(ask);
  }

  #dismiss() {
    this.#question = null;
    this.#root.querySelector('.ask')?.remove();
  }

  async #answer(choice) {
    const q = this.#question;
    if (!q) return;
    this.#dismiss();
    try {
      const summary = await q.ranker.answer(q.id, choice);
      this.#emit('palate-answer', { questionId: q.id, answer: choice, summary });
      if (choice !== 'skip') {
        lastAsked = Date.now(); // in 'auto' mode, no new question right away
        this.refresh();
      }
    } catch (e) {
      this.#emit('palate-error', { message: e.message });
    }
  }

  #onKey(e) {
    if (!this.#question || e.ctrlKey || e.metaKey || e.altKey) return;
    const choice = { a: 'a', b: 'b', t: 'tie', s: 'skip' }[e.key.toLowerCase()];
    if (choice) { e.preventDefault(); this.#answer(choice); }
    else if (e.key === 'Escape') this.#dismiss();
  }
}

if (!customElements.get('palate-rerank')) customElements.define('palate-rerank', PalateRerank);
