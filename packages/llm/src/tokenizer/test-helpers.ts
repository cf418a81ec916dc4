/**
 * Test-only helpers for the tokenizer tests: a minimal GGUF metadata (KV section) reader and the
 * shared test corpora. Not part of the public API (not re-exported from index.ts); the real GGUF
 * reader lives in ../io/.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir, stories260KPath } from '../paths.js';
import { BYTES_TO_UNICODE, PRETOKENIZE_PATTERNS } from './bpe.js';
import { TokenType } from './types.js';

const GGUF_MAGIC = 0x46554747; // 'GGUF' little-endian

/** Reads only the header and the key/value metadata of a GGUF v2/v3 file. */
export function readGGUFMetadata(bytes: Uint8Array): Map<string, unknown> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8');
  let off = 0;
  const u32 = (): number => {
    const v = view.getUint32(off, true);
    off += 4;
    return v;
  };
  const u64 = (): number => {
    const v = view.getBigUint64(off, true);
    off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`u64 ${v} too large`);
    return Number(v);
  };
  const str = (): string => {
    const n = u64();
    const s = dec.decode(bytes.subarray(off, off + n));
    off += n;
    return s;
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 0: return view.getUint8(off++);
      case 1: return view.getInt8(off++);
      case 2: { const v = view.getUint16(off, true); off += 2; return v; }
      case 3: { const v = view.getInt16(off, true); off += 2; return v; }
      case 4: return u32();
      case 5: { const v = view.getInt32(off, true); off += 4; return v; }
      case 6: { const v = view.getFloat32(off, true); off += 4; return v; }
      case 7: return view.getUint8(off++) !== 0;
      case 8: return str();
      case 9: {
        const elemType = u32();
        const count = u64();
        const out: unknown[] = new Array(count);
        for (let i = 0; i < count; i++) out[i] = value(elemType);
        return out;
      }
      case 10: return u64();
      case 11: { const v = view.getBigInt64(off, true); off += 8; return Number(v); }
      case 12: { const v = view.getFloat64(off, true); off += 8; return v; }
      default: throw new Error(`unknown GGUF value type ${type} at offset ${off}`);
    }
  };
  if (u32() !== GGUF_MAGIC) throw new Error('not a GGUF file');
  const version = u32();
  if (version < 2 || version > 3) throw new Error(`unsupported GGUF version ${version}`);
  u64(); // tensor_count
  const kvCount = u64();
  const meta = new Map<string, unknown>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    const type = u32();
    meta.set(key, value(type));
  }
  return meta;
}

let cached: Map<string, unknown> | undefined;
/** Metadata of the real stories260K GGUF (cached per process). */
export function stories260KMetadata(): Map<string, unknown> {
  cached ??= readGGUFMetadata(readFileSync(stories260KPath()));
  return cached;
}

/** A copy of the metadata map that tests may mutate. */
export function cloneMetadata(meta: Map<string, unknown>): Map<string, unknown> {
  return new Map(meta);
}

/** The known greedy continuation from the stories260K README (exact text, with its newline). */
export function storiesGreedyText(): string {
  const readme = readFileSync(join(sharedDir(), 'models', 'stories260K', 'README.md'), 'utf8');
  const m = /"(Once upon a time, there was[\s\S]*?)"/.exec(readme);
  if (!m) throw new Error('greedy text not found in stories260K README.md');
  return m[1];
}

/**
 * Questions from the commonsense test splits (`perFile` from each), plus hand-written strings
 * that exercise unicode, digits, punctuation, newlines, emoji and odd whitespace.
 */
export function testStrings(perFile = 80): string[] {
  const dir = join(sharedDir(), 'data', 'commonsense');
  const out: string[] = [];
  if (existsSync(dir)) {
    for (const task of readdirSync(dir).sort()) {
      const f = join(dir, task, 'test.normalized.jsonl');
      if (!existsSync(f)) continue;
      const lines = readFileSync(f, 'utf8').split('\n').filter((l) => l.trim().length > 0);
      for (const line of lines.slice(0, perFile)) {
        const row = JSON.parse(line) as { question?: string; choices?: string[] };
        if (typeof row.question === 'string') out.push(row.question);
        if (Array.isArray(row.choices) && row.choices.length > 0) out.push(row.choices.join('\n'));
      }
    }
  }
  out.push(
    'Once upon a time',
    'Hello, world!',
    '  leading spaces and trailing  ',
    'tabs\tand\nnewlines\r\nand\n\n\nblank lines',
    'Numbers: 0 1 12 123 1234 3.14159 -42 1e10 2024-06-01',
    'Punctuation: !@#$%^&*()_+-=[]{};\':",./<>?\\|`~',
    'Unicode: café naïve résumé Ünïcödé façade — “quotes” ‘single’ … ½ °C',
    'Emoji: 😀 🚀🚀 👩‍👩‍👧‍👦 🇯🇵 ❤️',
    'CJK: 日本語のテキスト 中文文本 한국어 텍스트',
    'Cyrillic / Greek / Arabic / Hebrew: Привет мир Γειά σου κόσμε مرحبا بالعالم שלום עולם',
    'Math: ∀x∈ℝ, x² ≥ 0; ∑ᵢ aᵢ ≠ ∞',
    'zero\u200bwidth\u00a0nbsp',
    "It's what you'll do; we'd've CAN'T Won't",
    'a',
    ' ',
    '\n',
    'x'.repeat(300),
    'The quick brown fox jumps over the lazy dog. '.repeat(20),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// A tiny synthetic byte-level BPE vocabulary (GPT-2 style), trained here on the test corpus.


/** Learns `numMerges` byte-level BPE merges ('a b') from `corpus` (most frequent pair first). */
export function trainByteLevelMerges(corpus: string, numMerges: number): string[] {
  const re = new RegExp(PRETOKENIZE_PATTERNS.gpt2, 'gu');
  const counts = new Map<string, number>();
  const enc = new TextEncoder();
  for (const m of corpus.matchAll(re)) {
    let w = '';
    for (const b of enc.encode(m[0])) w += BYTES_TO_UNICODE[b];
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  const words = [...counts].map(([w, c]) => ({ syms: [...w], c }));
  const merges: string[] = [];
  for (let k = 0; k < numMerges; k++) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + c);
      }
    }
    let best: string | undefined;
    let bestC = 0;
    for (const [key, c] of pairs) if (c > bestC || (c === bestC && best !== undefined && key < best)) { best = key; bestC = c; }
    if (!best || bestC < 2) break;
    merges.push(best);
    const [a, b] = best.split(' ');
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { out.push(a + b); i++; }
        else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return merges;
}

export interface SyntheticBpe {
  tokens: string[];
  types: number[];
  merges: string[];
  /** Tokens that exist in the vocab but that the merges never build (for ignore_merges). */
  extraWords: string[];
  specials: { content: string; id: number; special: boolean }[];
}

/** 256 byte symbols + learned merges + a few merge-less words + special tokens. */
export function syntheticBpe(numMerges = 300): SyntheticBpe {
  const corpus = testStrings(40).join('\n');
  const merges = trainByteLevelMerges(corpus, numMerges);
  const tokens: string[] = [...BYTES_TO_UNICODE];
  const seen = new Set(tokens);
  for (const m of merges) {
    const t = m.replace(' ', '');
    if (!seen.has(t)) { seen.add(t); tokens.push(t); }
  }
  const extraWords = ['Ġzebra', 'Ġquixotic', 'Ġ123'].filter((w) => !seen.has(w));
  for (const w of extraWords) { seen.add(w); tokens.push(w); }
  const types = tokens.map(() => TokenType.Normal as number);
  const specials = [
    { content: '<|endoftext|>', special: true, type: TokenType.Control },
    { content: '<|begin_of_text|>', special: true, type: TokenType.Control },
    { content: '<|user|>', special: false, type: TokenType.UserDefined },
  ].map((s) => {
    tokens.push(s.content);
    types.push(s.type);
    return { content: s.content, id: tokens.length - 1, special: s.special };
  });
  return { tokens, types, merges, extraWords, specials };
}

/** The GGUF metadata for a synthetic vocab. */
export function syntheticBpeMetadata(v: SyntheticBpe, pre?: string): Map<string, unknown> {
  const m = new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', v.tokens],
    ['tokenizer.ggml.token_type', v.types],
    ['tokenizer.ggml.merges', v.merges],
    ['tokenizer.ggml.bos_token_id', v.specials[1].id],
    ['tokenizer.ggml.eos_token_id', v.specials[0].id],
  ]);
  if (pre !== undefined) m.set('tokenizer.ggml.pre', pre);
  return m;
}

/** HF's Llama 3 split regex, verbatim (with the inline `(?i:...)` group). */
export const HF_LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const HF_QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same vocab as an HF tokenizer.json (GPT-2 ByteLevel, or Llama 3 / Qwen2 Split + ByteLevel). */
export function syntheticBpeTokenizerJson(v: SyntheticBpe, style: 'gpt2' | 'llama3' | 'qwen2'): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  v.tokens.forEach((t, i) => { vocab[t] = i; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: style === 'gpt2' };
  const pre_tokenizer = style === 'gpt2'
    ? byteLevel
    : {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: style === 'llama3' ? HF_LLAMA3_REGEX : HF_QWEN2_REGEX }, behavior: 'Isolated', invert: false },
          byteLevel,
        ],
      };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: v.specials.map((s) => ({
      id: s.id, content: s.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: s.special,
    })),
    normalizer: null,
    pre_tokenizer,
    post_processor: style === 'llama3'
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [v.specials[1].id], tokens: ['<|begin_of_text|>'] } },
        }
      : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: style === 'llama3',
      vocab,
      merges: v.merges,
    },
  };
}
