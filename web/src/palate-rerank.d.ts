import type { RankedReply, Ranker, TasteSummary } from './palate';

/** `<palate-rerank>`: the best reply for this user first, the others on demand, occasional A/B questions. */
export class PalateRerank extends HTMLElement {
  /** The candidate replies; when unset, the element's children's text. */
  replies: string[];
  /** The user's message (attribute `prompt`). */
  prompt: string;
  /** Share a ranker from createRanker() instead of loading one from the `model` attribute (the
   *  widget never disposes a ranker it was given; one it loaded is disposed when the last widget
   *  using it is removed or changes model). Attributes: model, backend ('auto' | 'webgpu' | 'cpu'),
   *  prompt, ask ('auto' | 'always' | 'never'), ask-interval (seconds), conservative (number ≥ 0). */
  ranker: Ranker | null;
  /** Ranks the current replies again. */
  refresh(): Promise<void>;
}

export interface PalateRerankEventMap {
  'palate-ranked': CustomEvent<{ ranking: RankedReply[]; replies: string[] }>;
  'palate-answer': CustomEvent<{ questionId: number; answer: 'a' | 'b' | 'tie' | 'skip'; summary: TasteSummary }>;
  'palate-error': CustomEvent<{ message: string }>;
}

declare global {
  interface HTMLElementTagNameMap {
    'palate-rerank': PalateRerank;
  }
  interface HTMLElementEventMap extends PalateRerankEventMap {}
}
