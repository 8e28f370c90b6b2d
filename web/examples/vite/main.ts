// What a web developer writes: the package by name, nothing else. Vite finds the worker and both
// .wasm builds through `new URL(…, import.meta.url)` inside the package and emits them.
import { createRanker, PalateError, type RankedReply } from 'palate';
import 'palate/rerank';

const MODEL = '/models/all-MiniLM-L6-v2/';
const PROMPT = 'How do I boil an egg?';
const REPLIES = [
  'Put it in boiling water for 7 minutes, then in cold water.',
  'Eggs are a good source of protein.',
  'Boil water, add the egg, wait seven minutes, cool it under the tap, and peel.',
];

interface Result {
  backend?: string;
  dim?: number;
  ranking?: RankedReply[];
  answered?: number;
  aborted?: string;
  error?: { code: string; message: string };
}

async function run(): Promise<Result> {
  const status = document.getElementById('status')!;
  const ranker = await createRanker({
    model: MODEL,
    backend: 'cpu',
    onProgress: (p) => { status.textContent = `${p.phase} ${p.loaded}/${p.total}`; },
  });
  try {
    const [row] = await ranker.embed(['hello']);
    const ranking = await ranker.rerank(PROMPT, REPLIES);
    const question = await ranker.nextQuestion(PROMPT, REPLIES);
    const summary = await ranker.answer(question.id, 'a');
    const controller = new AbortController();
    const late = ranker.rerank(PROMPT, REPLIES, { signal: controller.signal });
    controller.abort();
    const aborted = await late.then(() => 'resolved', (e: unknown) => (e instanceof PalateError ? e.code : 'other'));
    await ranker.profile.forget();
    status.textContent = 'ready';
    return { backend: ranker.backend, dim: row.embedding.length, ranking, answered: summary.answers, aborted };
  } finally {
    ranker.dispose();
  }
}

declare global {
  interface Window { palateResult?: Result }
}

run().then(
  (result) => { window.palateResult = result; },
  (e: unknown) => {
    window.palateResult = { error: e instanceof PalateError ? { code: e.code, message: e.message } : { code: 'other', message: String(e) } };
  },
);
