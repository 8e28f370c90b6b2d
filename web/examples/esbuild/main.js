// The app imports the package by name. The .wasm builds come in through esbuild's file loader and
// reach the worker as createRanker({ wasmUrl }); the widget shares this ranker (its `ranker`
// property), so it needs no model attribute of its own.
import { createRanker, PalateError } from 'palate';
import 'palate/rerank';
import cpu from 'palate/wasm/cpu';
import webgpu from 'palate/wasm/webgpu';

const PROMPT = 'How do I boil an egg?';
const REPLIES = [
  'Put it in boiling water for 7 minutes, then in cold water.',
  'Eggs are a good source of protein.',
  'Boil water, add the egg, wait seven minutes, cool it under the tap, and peel.',
];

async function run() {
  const status = document.getElementById('status');
  const ranker = await createRanker({
    model: '/models/all-MiniLM-L6-v2/',
    backend: 'cpu',
    wasmUrl: { cpu, webgpu },
    onProgress: (p) => { status.textContent = `${p.phase} ${p.loaded}/${p.total}`; },
  });
  const [row] = await ranker.embed(['hello']);
  const ranking = await ranker.rerank(PROMPT, REPLIES);
  const question = await ranker.nextQuestion(PROMPT, REPLIES);
  const summary = await ranker.answer(question.id, 'a');
  const controller = new AbortController();
  const late = ranker.rerank(PROMPT, REPLIES, { signal: controller.signal });
  controller.abort();
  const aborted = await late.then(() => 'resolved', (e) => (e instanceof PalateError ? e.code : 'other'));
  await ranker.profile.forget();
  document.getElementById('widget').ranker = ranker; // the widget ranks with this ranker
  status.textContent = 'ready';
  return { backend: ranker.backend, dim: row.embedding.length, ranking, answered: summary.answers, aborted };
}

run().then(
  (result) => { window.palateResult = result; },
  (e) => { window.palateResult = { error: { code: e instanceof PalateError ? e.code : 'other', message: String(e?.message ?? e) } }; },
);
