/** The Llama-family causal language model: embedding, decoder blocks, final norm, output head. */
import { argmax, embedding, noGrad, rmsnorm, scope, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';
import type { LlamaConfig } from './config.js';
import { Block, KVCache, type LinearLike } from './modules.js';

export interface ForwardOptions {
  /** Keys/values of earlier positions (incremental decoding); updated in place. */
  cache?: KVCache;
  /** Return logits only for the last position ([B, 1, vocab]). */
  lastOnly?: boolean;
}

export class LlamaModel {
  constructor(
    readonly config: LlamaConfig,
    readonly backend: Backend,
    readonly embed: Tensor,
    readonly blocks: Block[],
    readonly norm: Tensor,
    public output: LinearLike,
    /** Every pretrained tensor, frozen; freed by dispose(). */
    readonly weights: readonly Tensor[] = [],
  ) {}

  /** Free the pretrained weights (adapters own and free their own parameters). */
  dispose(): void {
    for (const w of this.weights) w.dispose();
  }

  /** Final hidden states [B, T, dim] for token ids [B, T] (i32). */
  hidden(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    if (ids.dtype !== 'i32' || ids.rank !== 2) throw new Error(`LlamaModel.forward: ids must be i32 [batch, seq], got ${ids.dtype} [${ids.shape}]`);
    let x = embedding(this.embed, ids);
    for (const b of this.blocks) x = b.forward(x, opts.cache);
    return rmsnorm(x, this.norm, this.config.normEps);
  }

  /** Logits [B, T, vocab] (or [B, 1, vocab] with lastOnly). */
  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    let h = this.hidden(ids, opts);
    if (opts.lastOnly) h = h.narrow(1, h.shape[1]! - 1, 1);
    return this.output.forward(h);
  }

  /** Greedy decoding from prompt ids; returns the new ids (stops at eos unless told not to). */
  async generateGreedy(prompt: readonly number[], maxNewTokens: number, opts: { stopAtEos?: boolean } = {}): Promise<number[]> {
    const cache = new KVCache(this.config.nLayers);
    const out: number[] = [];
    let next = [...prompt];
    try {
      for (let i = 0; i < maxNewTokens; i++) {
        if (cache.length + next.length > this.config.maxSeqLen) break;
        const id = noGrad(() =>
          scope(() => {
            const ids = tensor(Int32Array.from(next), [1, next.length], { dtype: 'i32', backend: this.backend });
            return argmax(this.forward(ids, { cache, lastOnly: true }), -1);
          }),
        );
        const tok = (await id.data())[0]!;
        id.dispose();
        out.push(tok);
        if ((opts.stopAtEos ?? true) && tok === this.config.eos) break;
        next = [tok];
      }
    } finally {
      cache.dispose();
    }
    return out;
  }
}
