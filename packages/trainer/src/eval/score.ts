/**
 * First-token scoring (SPEC section 5): the next-token logits after the prompt, restricted to the
 * label tokens (last token of " " + label), argmax. No generation.
 */
import { gatherRows, noGrad, reshape, scope, takeAlongAxis, tensor, type Backend } from '@moegraph/tensor-webgpu';
import type { LlamaModel, Tokenizer } from '@moegraph/llm';
import type { Example, ExpertLoad } from '../types.js';
import { truncateLeft } from '../data/batch.js';
import { RouteStats, routesByLayer, type RouteSource } from './metrics.js';

/**
 * The token each label is scored by: the last token of encode(" " + label) without BOS/EOS.
 * Throws when two labels share a token (their scores could not be told apart).
 */
export function labelTokenIds(tokenizer: Tokenizer, labels: readonly string[]): number[] {
  const ids = labels.map((l) => {
    const t = tokenizer.encode(' ' + l, { addBos: false, addEos: false });
    if (t.length === 0) throw new Error(`labelTokenIds: label '${l}' encodes to no tokens`);
    return t[t.length - 1]!;
  });
  ids.forEach((id, i) => {
    const j = ids.indexOf(id);
    if (j !== i) throw new Error(`labelTokenIds: labels '${labels[j]}' and '${labels[i]}' both end in token ${id} ('${tokenizer.idToToken(id)}')`);
  });
  return ids;
}

export interface EvaluateOptions {
  batchSize: number;
  /** Where the ids go; default the model's backend (they must match). */
  backend?: Backend;
  /** Longest prompt in tokens (earliest tokens after BOS are cut); default the model's maxSeqLen. */
  cutoff?: number;
  /** Prepend BOS (default: the tokenizer's setting, as in training). */
  addBos?: boolean;
  /**
   * A mixture adapter (lora's Adapter fits): its routes are cleared before each batch and added,
   * padding masked out, to expert-load and entropy statistics. Set adapter.training = false first.
   */
  adapter?: RouteSource;
  /**
   * Pad every batch's length up to a multiple of this (default 8). WebGPU picks its matmul kernel
   * by shape (a vec4 kernel needs the attention length to be a multiple of 4; small odd shapes run a
   * general kernel that sums in another order), so unpadded lengths would make a row's scores
   * depend, by float rounding, on the batch it lands in. With a common multiple, batched and
   * per-example scores agree bit for bit. 1 turns it off.
   */
  padMultiple?: number;
}

export interface EvaluateResult {
  accuracy: number;
  /** Predicted label index per example, in input order. */
  predictions: number[];
  /** The restricted logits per example (one per label), in input order. */
  scores: number[][];
  seconds: number;
  samplesPerSec: number;
  /** With `adapter`: per-layer load over real (non-padding) tokens, and mean router entropy. */
  expertLoad?: ExpertLoad[];
  routerEntropy?: number | null;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Index of the largest value; the first one on ties (matches a per-example argmax). */
function argmaxOf(v: ArrayLike<number>, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/**
 * Score examples in right-padded batches. Causal attention means padding after a row's last real
 * token cannot change that token's logits, so batched scores equal per-example scores. Only the
 * B last-position hidden states go through the output head (a gather on the device), and only the
 * [B, labels] restricted logits are read back: the full [B, T, vocab] logits would be large.
 */
export async function evaluate(model: LlamaModel, tokenizer: Tokenizer, examples: readonly Example[], opts: EvaluateOptions): Promise<EvaluateResult> {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) throw new Error(`evaluate: batchSize must be a positive integer, got ${opts.batchSize}`);
  if (examples.length === 0) throw new Error('evaluate: no examples');
  const backend = opts.backend ?? model.backend;
  if (backend !== model.backend) throw new Error(`evaluate: backend '${backend.name}' is not the model's ('${model.backend.name}')`);
  const cutoff = opts.cutoff ?? model.config.maxSeqLen;
  const padMultiple = opts.padMultiple ?? 8;
  if (!(Number.isInteger(padMultiple) && padMultiple >= 1)) throw new Error(`evaluate: padMultiple must be a positive integer, got ${padMultiple}`);
  const addBos = opts.addBos ?? tokenizer.addBos;
  const start = performance.now();

  const labelCache = new Map<string, number[]>();
  const rows = examples.map((ex) => {
    if (!(ex.label >= 0 && ex.label < ex.labels.length)) throw new Error(`evaluate: example '${ex.id}' has label ${ex.label} but ${ex.labels.length} labels`);
    const key = ex.labels.join('\u0000');
    let ids = labelCache.get(key);
    if (!ids) labelCache.set(key, (ids = labelTokenIds(tokenizer, ex.labels)));
    const enc = tokenizer.encode(ex.prompt, { addBos, addEos: false });
    return { ids: truncateLeft(enc, cutoff, addBos && enc[0] === tokenizer.bos).ids, labelIds: ids };
  });
  // Longest first, stable: rows of similar length share a batch, so little compute goes to padding.
  const order = rows.map((_, i) => i).sort((a, b) => rows[b]!.ids.length - rows[a]!.ids.length || a - b);

  const predictions = new Array<number>(examples.length);
  const scores = new Array<number[]>(examples.length);
  const stats = opts.adapter ? new RouteStats() : null;
  const clear = () => opts.adapter && [...opts.adapter.modules.values()].forEach((m) => m.clearRoutes?.());
  try {
    for (let s = 0; s < order.length; s += opts.batchSize) {
      const idx = order.slice(s, s + opts.batchSize);
      const B = idx.length;
      const longest = Math.max(...idx.map((i) => rows[i]!.ids.length));
      const T = Math.max(longest, Math.min(roundUp(longest, padMultiple), cutoff)); // never past the cutoff
      const L = Math.max(...idx.map((i) => rows[i]!.labelIds.length));
      const ids = new Int32Array(B * T); // padding id 0: never attended to by a real position
      const mask = new Int32Array(B * T);
      const lastRow = new Int32Array(B);
      const labelIdx = new Int32Array(B * L);
      idx.forEach((i, b) => {
        const r = rows[i]!;
        ids.set(r.ids, b * T);
        mask.fill(1, b * T, b * T + r.ids.length);
        lastRow[b] = b * T + r.ids.length - 1;
        // Rows with fewer labels repeat their first label id; those columns are ignored below.
        for (let j = 0; j < L; j++) labelIdx[b * L + j] = r.labelIds[j] ?? r.labelIds[0]!;
      });
      clear();
      const picked = noGrad(() =>
        scope(() => {
          const h = model.hidden(tensor(ids, [B, T], { dtype: 'i32', backend }));
          if (stats && opts.adapter) stats.add(routesByLayer(opts.adapter), mask);
          const last = gatherRows(reshape(h, [B * T, h.shape[2]!]), tensor(lastRow, [B], { dtype: 'i32', backend }));
          const logits = model.output.forward(last); // [B, vocab]
          return takeAlongAxis(logits, tensor(labelIdx, [B, L], { dtype: 'i32', backend }));
        }),
      );
      const data = await picked.data();
      picked.dispose();
      idx.forEach((i, b) => {
        const n = rows[i]!.labelIds.length;
        const v = Array.from(data.subarray(b * L, b * L + n));
        scores[i] = v;
        predictions[i] = argmaxOf(v, n);
      });
    }
    clear();
    const seconds = (performance.now() - start) / 1000;
    const correct = predictions.reduce((n, p, i) => n + (p === examples[i]!.label ? 1 : 0), 0);
    const result: EvaluateResult = { accuracy: correct / examples.length, predictions, scores, seconds, samplesPerSec: examples.length / seconds };
    if (stats) {
      const sum = await stats.summary();
      result.expertLoad = sum.expertLoad;
      result.routerEntropy = sum.routerEntropy;
    }
    return result;
  } finally {
    stats?.dispose();
  }
}
