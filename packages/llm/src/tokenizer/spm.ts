/**
 * SentencePiece BPE tokenizer (GGUF `tokenizer.ggml.model = 'llama'`), following llama.cpp's
 * `llm_tokenizer_spm`: spaces escaped as U+2581, an optional dummy-prefix space, symbols start as
 * UTF-8 characters, and the adjacent pair whose concatenation is a vocabulary piece with the
 * highest score is merged repeatedly (ties: leftmost) via a priority queue. Symbols that are not
 * vocabulary pieces fall back to `<0xXX>` byte tokens (or unk).
 */
import { MinHeap, checkId, parseByteToken, utf8Encoder, type Fragment } from './common.js';
import { TokenType } from './types.js';
import { VocabTokenizer } from './vocab.js';

export const SPM_SPACE = '\u2581';

export interface SpmVocab {
  tokens: readonly string[];
  scores: readonly number[];
  /** GGUF token types (see {@link TokenType}). */
  types: readonly number[];
  bos: number | null;
  eos: number | null;
  unk: number | null;
  addBos?: boolean; // default true
  addEos?: boolean; // default false
  addSpacePrefix?: boolean; // default true
}

interface Sym {
  start: number; // code-unit offsets into the escaped text
  end: number;
  prev: number;
  next: number;
}
interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number; // code units of the merged text (stale-entry check)
}

const bigramLess = (a: Bigram, b: Bigram): boolean =>
  a.score > b.score || (a.score === b.score && a.left < b.left);

/** Bytes of a non-control, non-`<0xXX>` token: U+2581 is a space (except in bad byte tokens). */
const spmTokenBytes = (t: string, type: number): Uint8Array =>
  utf8Encoder.encode(type === TokenType.Byte ? t : t.replaceAll(SPM_SPACE, ' '));

export class SpmTokenizer extends VocabTokenizer {
  readonly addSpacePrefix: boolean;
  private readonly scores: readonly number[];
  /** Pieces that text can produce: every token except control / unknown / byte tokens. */
  private readonly pieceToId = new Map<string, number>();
  /** byte value -> `<0xXX>` token id, or -1. */
  private readonly byteToId = new Int32Array(256).fill(-1);
  private readonly hasByteTokens: boolean;

  constructor(v: SpmVocab) {
    const n = v.tokens.length;
    if (v.scores.length !== n) throw new Error(`SPM vocab: ${v.scores.length} scores for ${n} tokens`);
    super(
      'SPM',
      {
        tokens: v.tokens,
        types: v.types,
        bos: v.bos,
        eos: v.eos,
        unk: v.unk,
        addBos: v.addBos ?? true,
        addEos: v.addEos ?? false,
        parseSpecial: false,
      },
      spmTokenBytes,
    );
    this.scores = v.scores;
    this.addSpacePrefix = v.addSpacePrefix ?? true;
    let nBytes = 0;
    for (let id = 0; id < n; id++) {
      const t = v.tokens[id];
      if (v.types[id] === TokenType.Byte) {
        const b = parseByteToken(t);
        if (b >= 0 && this.byteToId[b] < 0) {
          this.byteToId[b] = id;
          nBytes++;
        }
      } else if (!this.isSpecial(id) && !this.pieceToId.has(t)) {
        this.pieceToId.set(t, id);
      }
    }
    this.hasByteTokens = nBytes === 256;
  }

  protected encodeFragments(frags: readonly Fragment[], out: number[]): void {
    let prevSpecial = true; // a dummy-prefix space goes before the first raw fragment and after special tokens
    for (const frag of frags) {
      if ('id' in frag) {
        out.push(frag.id);
        prevSpecial = true;
        continue;
      }
      let s = frag.text;
      if (this.addSpacePrefix && prevSpecial) s = ' ' + s;
      this.encodeRaw(s.replaceAll(' ', SPM_SPACE), out);
      prevSpecial = false;
    }
  }

  /** Tokenizes already-escaped text (no prefix, no special-token matching) into `out`. */
  encodeRaw(text: string, out: number[]): void {
    if (text.length === 0) return;
    // Symbols = code points.
    const syms: Sym[] = [];
    for (let i = 0; i < text.length; ) {
      const c = text.charCodeAt(i);
      const d = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      const len = d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
      syms.push({ start: i, end: i + len, prev: syms.length - 1, next: syms.length + 1 });
      i += len;
    }
    syms[syms.length - 1].next = -1;

    const heap = new MinHeap<Bigram>(bigramLess);
    const tryAdd = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const a = syms[left];
      const b = syms[right];
      const id = this.pieceToId.get(text.slice(a.start, b.end));
      if (id === undefined) return;
      heap.push({ left, right, score: this.scores[id], size: b.end - a.start });
    };
    for (let i = 1; i < syms.length; i++) tryAdd(i - 1, i);

    for (let bg = heap.pop(); bg !== undefined; bg = heap.pop()) {
      const l = syms[bg.left];
      const r = syms[bg.right];
      // Stale: one side was merged away or grew since the bigram was queued.
      if (l.end === l.start || r.end === r.start || r.end - l.start !== bg.size || l.next !== bg.right) continue;
      l.end = r.end;
      r.start = r.end; // empty = dead
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = bg.left;
      tryAdd(l.prev, bg.left);
      tryAdd(bg.left, l.next);
    }

    for (let i = 0; i >= 0; i = syms[i].next) {
      const s = syms[i];
      const piece = text.slice(s.start, s.end);
      const id = this.pieceToId.get(piece);
      if (id !== undefined) {
        out.push(id);
      } else if (this.hasByteTokens) {
        for (const b of utf8Encoder.encode(piece)) out.push(this.byteToId[b]);
      } else if (this.unk !== null) {
        out.push(this.unk);
      } else {
        throw new Error(`SPM: cannot encode ${JSON.stringify(piece)}: no byte tokens and no unk token`);
      }
    }
  }

  protected override firstPieceBytes(id: number): Uint8Array {
    const bytes = this.pieceBytes[id];
    return this.addSpacePrefix && this.types[id] !== TokenType.Byte && bytes[0] === 0x20 ? bytes.subarray(1) : bytes;
  }

  /** Score of a token (the SentencePiece log-probability / merge priority). */
  score(id: number): number {
    checkId(id, this.vocabSize);
    return this.scores[id];
  }

  tokenType(id: number): number {
    checkId(id, this.vocabSize);
    return this.types[id];
  }
}
