/**
 * Vocabulary handling shared by the GGUF-style tokenizers (SentencePiece and byte-level BPE):
 * token <-> id lookup, each token's decoded bytes, special-token splitting, BOS/EOS wrapping and
 * decode(). Internal (not part of the public API); subclasses supply the text -> id algorithm.
 */
import {
  EMPTY_BYTES,
  LiteralSplitter,
  checkId,
  concatBytes,
  decodeUtf8,
  parseByteToken,
  utf8Encoder,
  type Fragment,
} from './common.js';
import { TokenType, type DecodeOptions, type EncodeOptions, type Tokenizer } from './types.js';

export interface VocabInit {
  tokens: readonly string[];
  /** GGUF token types (see {@link TokenType}), one per token. */
  types: readonly number[];
  bos: number | null;
  eos: number | null;
  unk: number | null;
  addBos: boolean;
  addEos: boolean;
  /** Default of {@link EncodeOptions.parseSpecial}. */
  parseSpecial: boolean;
}

export abstract class VocabTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly unk: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  protected readonly tokens: readonly string[];
  protected readonly types: readonly number[];
  /** Every token -> its first id. */
  protected readonly toId = new Map<string, number>();
  /** Decoded bytes of each token (empty for control / unknown tokens). */
  protected readonly pieceBytes: Uint8Array[];
  private readonly parseSpecialDefault: boolean;
  private readonly userSplitter: LiteralSplitter;
  private readonly specialSplitter: LiteralSplitter;

  /**
   * @param kind Vocabulary kind named in errors ('BPE', 'SPM').
   * @param textBytes Decoded bytes of a token that is neither control / unknown nor a valid
   *   `<0xXX>` byte token.
   */
  protected constructor(kind: string, v: VocabInit, textBytes: (token: string, type: number) => Uint8Array) {
    const n = v.tokens.length;
    if (v.types.length !== n) throw new Error(`${kind} vocab: ${v.types.length} token types for ${n} tokens`);
    this.vocabSize = n;
    this.tokens = v.tokens;
    this.types = v.types;
    this.bos = v.bos;
    this.eos = v.eos;
    this.unk = v.unk;
    this.addBos = v.addBos;
    this.addEos = v.addEos;
    this.parseSpecialDefault = v.parseSpecial;

    const user: { text: string; id: number }[] = [];
    const special: { text: string; id: number }[] = [];
    this.pieceBytes = new Array(n);
    for (let id = 0; id < n; id++) {
      const t = v.tokens[id];
      const type = v.types[id];
      if (!this.toId.has(t)) this.toId.set(t, id);
      if (type === TokenType.Control || type === TokenType.Unknown) {
        this.pieceBytes[id] = EMPTY_BYTES;
        if (type === TokenType.Control) special.push({ text: t, id });
        continue;
      }
      if (type === TokenType.UserDefined) user.push({ text: t, id });
      const b = type === TokenType.Byte ? parseByteToken(t) : -1;
      this.pieceBytes[id] = b >= 0 ? Uint8Array.of(b) : textBytes(t, type);
    }
    this.userSplitter = new LiteralSplitter(user);
    this.specialSplitter = new LiteralSplitter([...user, ...special]);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bos !== null) out.push(this.bos);
    const splitter = opts.parseSpecial ?? this.parseSpecialDefault ? this.specialSplitter : this.userSplitter;
    this.encodeFragments(splitter.split(text), out);
    if ((opts.addEos ?? this.addEos) && this.eos !== null) out.push(this.eos);
    return out;
  }

  /** Appends the ids of the text split around user-defined (and maybe special) tokens. */
  protected abstract encodeFragments(frags: readonly Fragment[], out: number[]): void;

  isSpecial(id: number): boolean {
    const t = this.types[id];
    return t === TokenType.Control || t === TokenType.Unknown;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecial ?? true;
    const parts: Uint8Array[] = [];
    let total = 0;
    let atStart = true;
    for (const id of ids) {
      checkId(id, this.vocabSize);
      let bytes: Uint8Array;
      if (this.isSpecial(id)) {
        if (skip) continue;
        // Rendered special text does not count as the start of the text (sentencepiece renders
        // control tokens as nothing), so the first real piece still goes through firstPieceBytes.
        bytes = utf8Encoder.encode(this.tokens[id]);
      } else if (atStart) {
        atStart = false;
        bytes = this.firstPieceBytes(id);
      } else {
        bytes = this.pieceBytes[id];
      }
      parts.push(bytes);
      total += bytes.length;
    }
    return decodeUtf8(concatBytes(parts, total));
  }

  /** Bytes of the first non-special token in a decode() (SPM strips its dummy-prefix space). */
  protected firstPieceBytes(id: number): Uint8Array {
    return this.pieceBytes[id];
  }

  tokenBytes(id: number): Uint8Array {
    checkId(id, this.vocabSize);
    return this.pieceBytes[id];
  }

  idToToken(id: number): string {
    checkId(id, this.vocabSize);
    return this.tokens[id];
  }

  tokenToId(token: string): number | undefined {
    return this.toId.get(token);
  }
}
