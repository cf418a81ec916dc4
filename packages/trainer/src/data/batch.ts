/**
 * Tokenising training examples and packing them into right-padded batches with answer and
 * attention masks. Host-side only: the training loop uploads `ids` and the masks itself.
 */
import type { Generator } from '@moegraph/tensor-webgpu';
import type { Tokenizer } from '@moegraph/llm';
import type { Example } from '../types.js';

export interface TrainItem {
  /** Prompt + " " + answer label, tokenised (BOS first when the tokenizer adds one). */
  ids: number[];
  /** Index in `ids` of the first answer token; ids[answerStart..] are the answer's tokens. */
  answerStart: number;
}

export interface Batch {
  B: number;
  T: number;
  /** [B*T] row-major token ids, right-padded with padId. */
  ids: Int32Array;
  /** [B*T] 1 on answer tokens, 0 elsewhere (padding included). */
  answerMask: Int32Array;
  /** [B*T] 1 on real tokens, 0 on padding. */
  attentionMask: Int32Array;
  /** Real length of each row. */
  lengths: number[];
  /** Index of each row's item in the `items` given to makeBatches. */
  indices: number[];
}

export interface EncodeTrainOptions {
  /** Longest sequence in tokens; longer ones lose their earliest prompt tokens (BOS is kept). */
  cutoff: number;
  /** Prepend BOS (default: the tokenizer's own setting). */
  addBos?: boolean;
}

/**
 * Keep BOS and the last `cutoff - 1` tokens: cutting from the left keeps the answer, which sits
 * at the end and is all the default loss sees (LLM-Adapters cuts the right end instead, losing it).
 * Returns the tokens and how many were dropped.
 */
export function truncateLeft(ids: readonly number[], cutoff: number, hasBos: boolean): { ids: number[]; dropped: number } {
  if (ids.length <= cutoff) return { ids: [...ids], dropped: 0 };
  const head = hasBos ? 1 : 0;
  if (cutoff <= head) throw new Error(`cutoff ${cutoff} leaves no room after BOS`);
  const dropped = ids.length - cutoff;
  return { ids: [...ids.slice(0, head), ...ids.slice(head + dropped)], dropped };
}

/**
 * Tokenise prompt + " " + label. The answer tokens are those after the longest common prefix with
 * the prompt's own tokens, so a tokenizer that merges across the boundary still gives a clean
 * split (the answer then starts at the first token that differs).
 */
export function encodeTrain(tokenizer: Tokenizer, examples: readonly Example[], opts: EncodeTrainOptions): TrainItem[] {
  if (!(Number.isInteger(opts.cutoff) && opts.cutoff >= 2)) throw new Error(`encodeTrain: cutoff must be an integer >= 2, got ${opts.cutoff}`);
  const addBos = opts.addBos ?? tokenizer.addBos;
  return examples.map((ex) => {
    const answer = ex.labels[ex.label];
    if (answer === undefined) throw new Error(`encodeTrain: example '${ex.id}' has label ${ex.label} but ${ex.labels.length} labels`);
    const full = tokenizer.encode(ex.prompt + ' ' + answer, { addBos, addEos: false });
    const prompt = tokenizer.encode(ex.prompt, { addBos, addEos: false });
    let start = 0;
    while (start < prompt.length && start < full.length - 1 && full[start] === prompt[start]) start++;
    const hasBos = addBos && tokenizer.bos !== null && full[0] === tokenizer.bos;
    const cut = truncateLeft(full, opts.cutoff, hasBos);
    return { ids: cut.ids, answerStart: Math.max(hasBos ? 1 : 0, start - cut.dropped) };
  });
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffles the order (one Fisher-Yates pass, advancing the generator); none: input order. */
  generator?: Generator;
  padId: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
}

/**
 * Group items into batches padded to their longest row. Call once per epoch with the same
 * generator for a fresh seeded order each epoch; the result depends only on the generator state.
 */
export function makeBatches(items: readonly TrainItem[], opts: BatchOptions): Batch[] {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) throw new Error(`makeBatches: batchSize must be a positive integer, got ${opts.batchSize}`);
  const order = items.map((_, i) => i);
  opts.generator?.shuffle(order);
  const out: Batch[] = [];
  for (let s = 0; s < order.length; s += opts.batchSize) {
    const idx = order.slice(s, s + opts.batchSize);
    if (opts.dropLast && idx.length < opts.batchSize) break;
    out.push(packRows(idx.map((i) => items[i]!), idx, opts.padId));
  }
  return out;
}

/** Right-pad rows to one length and build the masks. */
export function packRows(rows: readonly TrainItem[], indices: number[], padId: number): Batch {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.ids.length));
  if (!(T >= 1)) throw new Error('packRows: empty rows');
  const ids = new Int32Array(B * T).fill(padId);
  const answerMask = new Int32Array(B * T);
  const attentionMask = new Int32Array(B * T);
  rows.forEach((r, b) => {
    ids.set(r.ids, b * T);
    attentionMask.fill(1, b * T, b * T + r.ids.length);
    answerMask.fill(1, b * T + r.answerStart, b * T + r.ids.length);
  });
  return { B, T, ids, answerMask, attentionMask, lengths: rows.map((r) => r.ids.length), indices };
}
