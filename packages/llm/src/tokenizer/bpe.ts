/**
 * Byte-level BPE (GPT-2 / Llama 3 / Qwen2 style; GGUF `tokenizer.ggml.model = 'gpt2'`), following
 * llama.cpp's `llm_tokenizer_bpe`: special tokens are split out literally, the rest is cut into
 * words by a pre-tokenizer regex, each word's UTF-8 bytes are mapped through GPT-2's
 * bytes-to-unicode table and merged by merge rank (lowest first, ties leftmost).
 */
import { MinHeap, utf8Encoder, type Fragment } from './common.js';
import { TokenType } from './types.js';
import { VocabTokenizer } from './vocab.js';

/** GPT-2's reversible byte -> printable unicode character table. */
export const BYTES_TO_UNICODE: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const out = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (out[b] === undefined) out[b] = String.fromCharCode(256 + n++);
  return out;
})();
export const UNICODE_TO_BYTES: ReadonlyMap<string, number> = new Map(BYTES_TO_UNICODE.map((c, b) => [c, b]));

// Pre-tokenizer patterns. `\s` is written as \p{White_Space} (what Rust's regex / Oniguruma use),
// JS's own `\s` also matches U+FEFF. `(?i:...)` is expanded since Node 20 lacks inline flags.
const WS = '\\p{White_Space}';
const NWS = '\\P{White_Space}';
const CONTRACTIONS_CI = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
export const PRETOKENIZE_PATTERNS = {
  /** GPT-2 (tiktoken r50k / HF ByteLevel use_regex). */
  gpt2: `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|${WS}+(?!${NWS})|${WS}+`,
  /** Llama 3 (tiktoken cl100k-style). */
  llama3: `${CONTRACTIONS_CI}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|${WS}*[\\r\\n]+|${WS}+(?!${NWS})|${WS}+`,
  /** Qwen2: Llama 3 with single digits. */
  qwen2: `${CONTRACTIONS_CI}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|${WS}*[\\r\\n]+|${WS}+(?!${NWS})|${WS}+`,
} as const;
export type PretokenizeKind = keyof typeof PRETOKENIZE_PATTERNS;

/** Maps a GGUF `tokenizer.ggml.pre` value to a pre-tokenizer (unknown values -> GPT-2). */
export function pretokenizerForPre(pre: string | undefined): PretokenizeKind {
  switch (pre) {
    case 'llama3':
    case 'llama-bpe':
    case 'llama-v3':
    case 'smaug-bpe':
    case 'falcon3':
      return 'llama3';
    case 'qwen2':
    case 'deepseek-r1-qwen':
      return 'qwen2';
    default:
      return 'gpt2';
  }
}

export interface BpeVocab {
  /** Tokens in byte-level unicode form ('Ġthe'); special tokens as plain text. */
  tokens: readonly string[];
  /** Merges as 'left right', in rank order. */
  merges: readonly string[];
  /** GGUF token types; default all normal. */
  types?: readonly number[];
  bos: number | null;
  eos: number | null;
  unk?: number | null;
  addBos?: boolean; // default false
  addEos?: boolean; // default false
  /** Pre-tokenizer: a named pattern or a custom regex source (compiled with flags 'gu'). */
  pretokenizer?: PretokenizeKind | { pattern: string };
  /** A word that is itself a vocabulary token is emitted whole (Llama 3). Default false. */
  ignoreMerges?: boolean;
}

interface Sym {
  text: string;
  prev: number;
  next: number;
}
interface Pair {
  left: number;
  right: number;
  rank: number;
  text: string; // merged text (stale-entry check)
}
const pairLess = (a: Pair, b: Pair): boolean => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

const CACHE_LIMIT = 50_000;

/** Bytes of a non-control, non-`<0xXX>` token: user-defined tokens are plain text. */
const bpeTokenBytes = (t: string, type: number): Uint8Array =>
  type === TokenType.UserDefined ? utf8Encoder.encode(t) : unicodeToBytes(t);

export class BpeTokenizer extends VocabTokenizer {
  readonly ignoreMerges: boolean;
  readonly pattern: RegExp;
  /** 'left right' -> rank. A Map of Maps avoids building joined strings on the hot path. */
  private readonly ranks = new Map<string, Map<string, number>>();
  private readonly cache = new Map<string, number[]>();

  constructor(v: BpeVocab) {
    const n = v.tokens.length;
    super(
      'BPE',
      {
        tokens: v.tokens,
        types: v.types ?? new Array<number>(n).fill(TokenType.Normal),
        bos: v.bos,
        eos: v.eos,
        unk: v.unk ?? null,
        addBos: v.addBos ?? false,
        addEos: v.addEos ?? false,
        parseSpecial: true,
      },
      bpeTokenBytes,
    );
    this.ignoreMerges = v.ignoreMerges ?? false;
    const pre = v.pretokenizer ?? 'gpt2';
    this.pattern = new RegExp(typeof pre === 'string' ? PRETOKENIZE_PATTERNS[pre] : pre.pattern, 'gu');

    v.merges.forEach((m, rank) => {
      const sp = m.indexOf(' ', 1);
      if (sp < 0) throw new Error(`BPE merge ${rank} (${JSON.stringify(m)}) has no ' ' separator`);
      const a = m.slice(0, sp);
      const b = m.slice(sp + 1);
      let inner = this.ranks.get(a);
      if (!inner) this.ranks.set(a, (inner = new Map()));
      if (!inner.has(b)) inner.set(b, rank);
    });
  }

  protected encodeFragments(frags: readonly Fragment[], out: number[]): void {
    for (const frag of frags) {
      if ('id' in frag) out.push(frag.id);
      else this.encodeText(frag.text, out);
    }
  }

  /** Pre-tokenizes and encodes text with no special-token handling. */
  encodeText(text: string, out: number[]): void {
    for (const w of this.preTokenize(text)) this.encodeWord(w, out);
  }

  /** The pre-tokenizer's words for text without special tokens (unmatched gaps kept). */
  preTokenize(text: string): string[] {
    const words: string[] = [];
    let last = 0;
    for (const m of text.matchAll(this.pattern)) {
      if (m.index > last) words.push(text.slice(last, m.index));
      if (m[0].length > 0) words.push(m[0]);
      last = m.index + m[0].length;
    }
    if (last < text.length) words.push(text.slice(last));
    return words;
  }

  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids: number[] = [];
    const bytes = utf8Encoder.encode(word);
    let mapped = '';
    for (const b of bytes) mapped += BYTES_TO_UNICODE[b];
    const whole = this.ignoreMerges ? this.toId.get(mapped) : undefined;
    if (whole !== undefined) ids.push(whole);
    else this.bpe(mapped, ids);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  private bpe(word: string, out: number[]): void {
    // One symbol per mapped byte character (all BMP, one code unit each).
    const syms: Sym[] = new Array(word.length);
    for (let i = 0; i < word.length; i++) syms[i] = { text: word[i], prev: i - 1, next: i + 1 < word.length ? i + 1 : -1 };
    if (syms.length > 1) {
      const heap = new MinHeap<Pair>(pairLess);
      const tryAdd = (left: number, right: number): void => {
        if (left < 0 || right < 0) return;
        const rank = this.ranks.get(syms[left].text)?.get(syms[right].text);
        if (rank === undefined) return;
        heap.push({ left, right, rank, text: syms[left].text + syms[right].text });
      };
      for (let i = 1; i < syms.length; i++) tryAdd(i - 1, i);
      for (let p = heap.pop(); p !== undefined; p = heap.pop()) {
        const l = syms[p.left];
        const r = syms[p.right];
        if (l.text.length === 0 || r.text.length === 0 || l.next !== p.right || l.text + r.text !== p.text) continue;
        l.text = p.text;
        r.text = '';
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = p.left;
        tryAdd(l.prev, p.left);
        tryAdd(p.left, l.next);
      }
    }
    for (let i = 0; i >= 0; i = syms[i].next) {
      const s = syms[i].text;
      const id = this.toId.get(s);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Not a token: fall back to its single byte characters.
      for (const c of s) {
        const cid = this.toId.get(c);
        if (cid !== undefined) out.push(cid);
        else if (this.unk !== null) out.push(this.unk);
        else throw new Error(`BPE: byte character ${JSON.stringify(c)} is not in the vocabulary and there is no unk token`);
      }
    }
  }
}

/** Byte-level unicode form -> bytes (characters outside the table are kept as their UTF-8). */
export function unicodeToBytes(s: string): Uint8Array {
  const out: number[] = [];
  for (const c of s) {
    const b = UNICODE_TO_BYTES.get(c);
    if (b !== undefined) out.push(b);
    else for (const x of utf8Encoder.encode(c)) out.push(x);
  }
  return Uint8Array.from(out);
}
