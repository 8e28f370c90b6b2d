// The benchmark texts and helpers shared by scripts/bench-browser.mjs (Chromium) and
// scripts/bench-dawn-node.mjs (Node + Dawn): the same batches, so their figures compare.

// Texts of an exact token count: lowercase words that are one WordPiece each, [CLS] and [SEP]
// included in the count. The benchmarks read Palate's token ids back and assert the count.
const WORDS = (`the of and to in is was for on that with as by at from his it an were are which this be or
have had not but one their they has been its more all who new other first can after two time when there
also would some most many only over into people such where years while through these three made used year
then like states because city any between about world work during each both state under part same four
since school long those music high may what later until water great country several life family group
government being before us known against house war way still small public within however south north west
east place five light`).split(/\s+/);

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function texts(count, tokens, seed) {
  const next = rng(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: tokens - 2 }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' '));
}

/** Batch 1/8/32 × ~32/~128 tokens, named "8x128" and so on. */
export const BATCHES = [];
for (const tokens of [32, 128]) for (const size of [1, 8, 32]) {
  BATCHES.push({ name: `${size}x${tokens}`, size, tokens, texts: texts(size, tokens, size * 1000 + tokens) });
}

/** The batch of the cold call (the first call after load). */
export const COLD = '8x128';

export function cosine(a, b) {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
