import type { Tokenizer } from './types.js';

/**
 * Incremental detokenizer for generation: feeds each token's raw bytes through a streaming
 * TextDecoder, so characters split across tokens (byte fallback / byte-level BPE) come out whole.
 * Special tokens produce no text. No leading-space stripping (generated text follows a prompt).
 */
export class TokenStreamDecoder {
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  constructor(private readonly tokenizer: Tokenizer) {}

  /** Text completed by this token ('' while a multi-byte character is still incomplete). */
  push(id: number): string {
    return this.decoder.decode(this.tokenizer.tokenBytes(id), { stream: true });
  }

  /** Flushes any incomplete trailing bytes (as U+FFFD) and resets. */
  flush(): string {
    const s = this.decoder.decode();
    this.decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return s;
  }
}
