/** Options for {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend BOS (default: the tokenizer's {@link Tokenizer.addBos}). Ignored when there is no BOS. */
  addBos?: boolean;
  /** Append EOS (default: the tokenizer's {@link Tokenizer.addEos}). Ignored when there is no EOS. */
  addEos?: boolean;
  /**
   * Match control/special tokens (e.g. `<|eot_id|>`) written literally in the text. User-defined
   * tokens (GGUF token_type 4) are always matched. Default: false for SentencePiece vocabularies,
   * true for byte-level BPE and Hugging Face tokenizers (the latter always match added tokens).
   */
  parseSpecial?: boolean;
}

/** Options for {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop control / special tokens (BOS, EOS, unk, chat markers). Default true. */
  skipSpecial?: boolean;
}

export interface Tokenizer {
  /** Number of token ids (largest id + 1). */
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** Whether encode() prepends BOS by default. */
  readonly addBos: boolean;
  /** Whether encode() appends EOS by default. */
  readonly addEos: boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  /**
   * Decode one token for streaming; returns raw bytes so partial UTF-8 can be joined (use a
   * `TextDecoder` with `{ stream: true }`). Control/special tokens give no bytes, and no
   * leading-space stripping is applied (that only happens at the start of a full decode()).
   */
  tokenBytes(id: number): Uint8Array;
  /** The vocabulary entry for an id (byte-level BPE tokens in their GPT-2 unicode form). */
  idToToken(id: number): string;
  tokenToId(token: string): number | undefined;
  /** True for control / special tokens (skipped by decode with skipSpecial). */
  isSpecial(id: number): boolean;
}

/** GGUF `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type). */
export const TokenType = {
  Undefined: 0,
  Normal: 1,
  Unknown: 2,
  Control: 3,
  UserDefined: 4,
  Unused: 5,
  Byte: 6,
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];
