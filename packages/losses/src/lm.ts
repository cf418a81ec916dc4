/**
 * Causal-LM cross-entropy with the masking choices of SPEC section 5: every position (the
 * reference) or only answer tokens (prompt masking), padding never counted.
 */
import { cast, crossEntropy, mul, narrow, ne, where, type Tensor } from '@moegraph/tensor-webgpu';

export interface CausalLMLossOptions {
  /**
   * [B, T] (i32 or f32), 1 where ids[b, t] is an answer token to be predicted. When given, only
   * positions predicting an answer token count (prompt masking); default: every position.
   */
  answerMask?: Tensor;
  /** [B, T] (i32 or f32), 1 for real tokens, 0 for padding: targets at padding are not counted. */
  attentionMask?: Tensor;
  /**
   * Padding token id: targets equal to it are not counted. Beware tokenizers that pad with EOS:
   * this also drops the EOS the model should learn to emit; prefer attentionMask then.
   */
  padId?: number;
  /** Target ids equal to this are not counted (default -100, as in PyTorch / Hugging Face labels). */
  ignoreIndex?: number;
  /** Label smoothing (default 0). */
  labelSmoothing?: number;
}

/** Product of 0/1 masks as f32 (null when there are none). */
function andMasks(masks: (Tensor | null)[]): Tensor | null {
  let out: Tensor | null = null;
  for (const m of masks) {
    if (!m) continue;
    const f = m.dtype === 'f32' ? m : cast(m, 'f32');
    out = out ? mul(out, f) : f;
  }
  return out;
}

/**
 * Mean next-token cross-entropy: logits [B, T, V] at position t predict ids [B, t + 1] (i32).
 * A target is counted unless masked out by answerMask, attentionMask, padId or ignoreIndex; the
 * mean is over counted targets (0 when none are counted).
 */
export function causalLMLoss(logits: Tensor, ids: Tensor, opts: CausalLMLossOptions = {}): Tensor {
  const what = 'causalLMLoss';
  if (logits.rank !== 3) throw new Error(`${what}: logits must be [B, T, V], got [${logits.shape}]`);
  if (ids.dtype !== 'i32') throw new Error(`${what}: ids must be i32, got ${ids.dtype}`);
  const [b, t] = logits.shape as [number, number, number];
  if (ids.rank !== 2 || ids.shape[0] !== b || ids.shape[1] !== t) throw new Error(`${what}: ids [${ids.shape}] must be [${b}, ${t}] to match logits`);
  for (const [name, m] of [['answerMask', opts.answerMask], ['attentionMask', opts.attentionMask]] as const) {
    if (m && (m.rank !== 2 || m.shape[0] !== b || m.shape[1] !== t)) throw new Error(`${what}: ${name} [${m.shape}] must be [${b}, ${t}]`);
  }
  const ignore = opts.ignoreIndex ?? -100;
  if (t < 2) return mul(logits.sum(), 0); // nothing to predict: a zero that still reaches logits
  const shift = (x: Tensor) => narrow(x, 1, 1, t - 1);
  const target = shift(ids);
  const keepMask = andMasks([
    opts.answerMask ? shift(opts.answerMask) : null,
    opts.attentionMask ? shift(opts.attentionMask) : null,
    opts.padId !== undefined ? ne(target, opts.padId) : null,
  ]);
  const labels = keepMask ? where(keepMask, target, ignore) : target;
  return crossEntropy(narrow(logits, 1, 0, t - 1), labels, { ignoreIndex: ignore, labelSmoothing: opts.labelSmoothing });
}
