/**
 * Tokenizers from GGUF metadata (`tokenizer.ggml.*` keys), and conversion of a SentencePiece
 * ('llama') GGUF vocabulary to an equivalent Hugging Face `tokenizer.json`.
 */
import { BpeTokenizer, pretokenizerForPre } from './bpe.js';
import { parseByteToken } from './common.js';
import { SPM_SPACE, SpmTokenizer } from './spm.js';
import { TokenType, type Tokenizer } from './types.js';

export type GGUFMetadata = ReadonlyMap<string, unknown>;

const K = {
  model: 'tokenizer.ggml.model',
  pre: 'tokenizer.ggml.pre',
  tokens: 'tokenizer.ggml.tokens',
  scores: 'tokenizer.ggml.scores',
  types: 'tokenizer.ggml.token_type',
  merges: 'tokenizer.ggml.merges',
  bos: 'tokenizer.ggml.bos_token_id',
  eos: 'tokenizer.ggml.eos_token_id',
  unk: 'tokenizer.ggml.unknown_token_id',
  pad: 'tokenizer.ggml.padding_token_id',
  addBos: 'tokenizer.ggml.add_bos_token',
  addEos: 'tokenizer.ggml.add_eos_token',
  addSpacePrefix: 'tokenizer.ggml.add_space_prefix',
} as const;

function fail(msg: string): never {
  throw new Error(`GGUF tokenizer: ${msg}`);
}

function getString(meta: GGUFMetadata, key: string, required: true): string;
function getString(meta: GGUFMetadata, key: string, required: false): string | undefined;
function getString(meta: GGUFMetadata, key: string, required: boolean): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return required ? fail(`missing required key '${key}'`) : undefined;
  if (typeof v !== 'string') fail(`'${key}' must be a string, got ${describe(v)}`);
  return v;
}

function getBool(meta: GGUFMetadata, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  return fail(`'${key}' must be a bool, got ${describe(v)}`);
}

function getStringArray(meta: GGUFMetadata, key: string, required: true): string[];
function getStringArray(meta: GGUFMetadata, key: string, required: false): string[] | undefined;
function getStringArray(meta: GGUFMetadata, key: string, required: boolean): string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return required ? fail(`missing required key '${key}'`) : undefined;
  if (!Array.isArray(v)) fail(`'${key}' must be an array of strings, got ${describe(v)}`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string') fail(`'${key}'[${i}] must be a string, got ${describe(v[i])}`);
  }
  return v as string[];
}

function getNumberArray(meta: GGUFMetadata, key: string, required: boolean, n: number): number[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return required ? fail(`missing required key '${key}'`) : undefined;
  const arr = ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v;
  if (!Array.isArray(arr)) fail(`'${key}' must be an array of numbers, got ${describe(v)}`);
  if (arr.length !== n) fail(`'${key}' has ${arr.length} entries but '${K.tokens}' has ${n}`);
  for (let i = 0; i < arr.length; i++) {
    const x = arr[i];
    if (typeof x === 'bigint') arr[i] = Number(x);
    else if (typeof x !== 'number' || Number.isNaN(x)) fail(`'${key}'[${i}] must be a number, got ${describe(x)}`);
  }
  return arr as number[];
}

/** Token id key: absent / -1 / 0xFFFFFFFF -> null; out of range -> error (or null when lenient). */
function getId(meta: GGUFMetadata, key: string, n: number, fallback: number | null, lenient = false): number | null {
  let v = meta.get(key);
  if (v === undefined) return fallback !== null && fallback < n ? fallback : null;
  if (typeof v === 'bigint') v = Number(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`'${key}' must be an integer, got ${describe(v)}`);
  if (v < 0 || v === 0xffffffff) return null;
  if (v >= n) return lenient ? null : fail(`'${key}' = ${v} is out of range for ${n} tokens`);
  return v;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `array(${v.length})`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'object') : `${typeof v} ${String(v)}`;
}

interface CommonVocab {
  model: string;
  tokens: string[];
  types: number[];
  bos: number | null;
  eos: number | null;
  unk: number | null;
  pad: number | null;
}

function readCommon(meta: GGUFMetadata): CommonVocab {
  if (typeof (meta as { get?: unknown } | null)?.get !== 'function') fail('metadata must be a Map<string, unknown>');
  const model = getString(meta, K.model, true);
  if (model !== 'llama' && model !== 'gpt2') {
    fail(`${K.model} = '${model}' is not supported (supported: 'llama' (SentencePiece BPE), 'gpt2' (byte-level BPE))`);
  }
  const tokens = getStringArray(meta, K.tokens, true);
  const n = tokens.length;
  if (n === 0) fail(`'${K.tokens}' is empty`);
  const spm = model === 'llama';
  const bos = getId(meta, K.bos, n, spm ? 1 : null);
  const eos = getId(meta, K.eos, n, spm ? 2 : null);
  const unk = getId(meta, K.unk, n, spm ? 0 : null);
  const pad = getId(meta, K.pad, n, null, true);
  let types = getNumberArray(meta, K.types, false, n);
  if (!types) {
    // No token types: infer what llama.cpp's tokenizer needs (bytes, controls, unk).
    types = tokens.map((t) => (spm && parseByteToken(t) >= 0 ? TokenType.Byte : TokenType.Normal));
    for (const id of [bos, eos]) if (id !== null) types[id] = TokenType.Control;
    if (unk !== null) types[unk] = TokenType.Unknown;
  }
  return { model, tokens, types, bos, eos, unk, pad };
}

/** The tokens HF lists as added tokens (control, unknown and user-defined ones), in id order. */
function addedTokens(c: CommonVocab): { id: number; content: string; special: boolean }[] {
  const out: { id: number; content: string; special: boolean }[] = [];
  for (let id = 0; id < c.tokens.length; id++) {
    const type = c.types[id];
    if (type === TokenType.Control || type === TokenType.Unknown || type === TokenType.UserDefined) {
      out.push({ id, content: c.tokens[id], special: type !== TokenType.UserDefined });
    }
  }
  return out;
}

/** Builds the tokenizer described by GGUF metadata (`tokenizer.ggml.*`). */
export function tokenizerFromGGUF(metadata: GGUFMetadata): Tokenizer {
  const c = readCommon(metadata);
  const n = c.tokens.length;
  if (c.model === 'llama') {
    const scores = getNumberArray(metadata, K.scores, true, n)!;
    return new SpmTokenizer({
      tokens: c.tokens,
      scores,
      types: c.types,
      bos: c.bos,
      eos: c.eos,
      unk: c.unk,
      addBos: getBool(metadata, K.addBos) ?? true,
      addEos: getBool(metadata, K.addEos) ?? false,
      addSpacePrefix: getBool(metadata, K.addSpacePrefix) ?? true,
    });
  }
  // gpt2
  const merges = getStringArray(metadata, K.merges, true);
  const pre = getString(metadata, K.pre, false);
  const kind = pretokenizerForPre(pre);
  return new BpeTokenizer({
    tokens: c.tokens,
    merges,
    types: c.types,
    bos: c.bos,
    eos: c.eos,
    unk: c.unk,
    addBos: getBool(metadata, K.addBos) ?? kind === 'llama3',
    addEos: getBool(metadata, K.addEos) ?? false,
    pretokenizer: kind,
    ignoreMerges: kind === 'llama3',
  });
}

/** A Hugging Face `tokenizer.json` object (only the fields we produce / read). */
export interface HFTokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: HFAddedToken[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: string | null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: [string, string][];
  };
}
export interface HFAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/**
 * Converts a SentencePiece ('llama') GGUF vocabulary into the equivalent HF `tokenizer.json`, as
 * transformers' LlamaConverter (legacy) does: a BPE model with byte_fallback whose merges come from
 * SentencePieceExtractor (every split of a vocab piece into two vocab pieces, ordered by the merged
 * piece's score descending, then by the left / right piece ids), normalizer Prepend('▁') +
 * Replace(' ' -> '▁'), decoder Replace('▁' -> ' ') + ByteFallback + Fuse + Strip(1 left), and a
 * TemplateProcessing post-processor adding BOS / EOS as configured.
 */
export function ggufToHFTokenizerJson(metadata: GGUFMetadata): HFTokenizerJson {
  const c = readCommon(metadata);
  if (c.model !== 'llama') fail(`ggufToHFTokenizerJson only converts ${K.model} = 'llama' (got '${c.model}')`);
  const n = c.tokens.length;
  const scores = getNumberArray(metadata, K.scores, true, n)!;
  const addBos = (getBool(metadata, K.addBos) ?? true) && c.bos !== null;
  const addEos = (getBool(metadata, K.addEos) ?? false) && c.eos !== null;
  const addSpacePrefix = getBool(metadata, K.addSpacePrefix) ?? true;

  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  const pieceId = new Map<string, number>();
  for (let id = 0; id < n; id++) {
    const t = c.tokens[id];
    if (pieceId.has(t)) fail(`duplicate token ${JSON.stringify(t)} (ids ${pieceId.get(t)} and ${id})`);
    pieceId.set(t, id);
    vocab[t] = id;
  }

  // SentencePieceExtractor.extract(vocab_scores): merges grouped per merged piece (vocab order),
  // each group sorted by (left id, right id), then a stable sort by score descending.
  const merges: { l: string; r: string; score: number }[] = [];
  for (let id = 0; id < n; id++) {
    const piece = c.tokens[id];
    const cps = Array.from(piece);
    if (cps.length < 2) continue;
    const local: { l: string; r: string; li: number; ri: number }[] = [];
    let prefix = '';
    for (let k = 1; k < cps.length; k++) {
      prefix += cps[k - 1];
      const rest = piece.slice(prefix.length);
      const li = pieceId.get(prefix);
      const ri = pieceId.get(rest);
      if (li !== undefined && ri !== undefined) local.push({ l: prefix, r: rest, li, ri });
    }
    local.sort((a, b) => a.li - b.li || a.ri - b.ri);
    for (const m of local) merges.push({ l: m.l, r: m.r, score: scores[id] });
  }
  merges.sort((a, b) => b.score - a.score); // Array.prototype.sort is stable

  const added_tokens: HFAddedToken[] = addedTokens(c).map(({ id, content, special }) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special,
  }));

  const tok = (id: number | null): string | null => (id === null ? null : c.tokens[id]);
  const bosT = tok(c.bos);
  const eosT = tok(c.eos);
  const single: unknown[] = [];
  const pair: unknown[] = [];
  const special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }> = {};
  if (addBos && bosT !== null) {
    single.push({ SpecialToken: { id: bosT, type_id: 0 } });
    special_tokens[bosT] = { id: bosT, ids: [c.bos!], tokens: [bosT] };
  }
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  pair.push(...single);
  if (addEos && eosT !== null) {
    single.push({ SpecialToken: { id: eosT, type_id: 0 } });
    pair.push({ SpecialToken: { id: eosT, type_id: 0 } });
    special_tokens[eosT] = { id: eosT, ids: [c.eos!], tokens: [eosT] };
  }
  if (addBos && bosT !== null) pair.push({ SpecialToken: { id: bosT, type_id: 1 } });
  pair.push({ Sequence: { id: 'B', type_id: 1 } });
  if (addEos && eosT !== null) pair.push({ SpecialToken: { id: eosT, type_id: 1 } });

  const replaceSpace = { type: 'Replace', pattern: { String: ' ' }, content: SPM_SPACE };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens,
    normalizer: addSpacePrefix
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SPM_SPACE }, replaceSpace] }
      : replaceSpace,
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single, pair, special_tokens },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPM_SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: tok(c.unk),
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => [m.l, m.r] as [string, string]),
    },
  };
}

/** The matching `tokenizer_config.json` for {@link ggufToHFTokenizerJson}. */
export function ggufToHFTokenizerConfig(metadata: GGUFMetadata): Record<string, unknown> {
  const c = readCommon(metadata);
  if (c.model !== 'llama') fail(`ggufToHFTokenizerConfig only converts ${K.model} = 'llama' (got '${c.model}')`);
  const tok = (id: number | null): string | null => (id === null ? null : c.tokens[id]);
  const addedTokensDecoder: Record<string, unknown> = {};
  for (const { id, content, special } of addedTokens(c)) {
    addedTokensDecoder[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special };
  }
  return {
    add_bos_token: getBool(metadata, K.addBos) ?? true,
    add_eos_token: getBool(metadata, K.addEos) ?? false,
    added_tokens_decoder: addedTokensDecoder,
    bos_token: tok(c.bos),
    eos_token: tok(c.eos),
    unk_token: tok(c.unk),
    pad_token: tok(c.pad),
    clean_up_tokenization_spaces: false,
    legacy: true,
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
  };
}
