/**
 * Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) tokenizers, run by
 * `@huggingface/tokenizers` (pure JS, zero dependencies) and wrapped in our {@link Tokenizer}.
 *
 * BOS/EOS are added by this wrapper (the library is called with add_special_tokens=false):
 * the ids come from tokenizer_config's bos_token/eos_token, else from the TemplateProcessing
 * post-processor, else from well-known added tokens; addBos/addEos from add_bos_token /
 * add_eos_token when given, else from whether the post-processor template adds them.
 */
import { Tokenizer as HFTokenizerImpl } from '@huggingface/tokenizers';
import { unicodeToBytes } from './bpe.js';
import { EMPTY_BYTES, checkId, parseByteToken, utf8Encoder } from './common.js';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `"<s>"` or `{ content: "<s>", ... }` (serialized AddedToken) -> "<s>". */
function tokenName(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v.content === 'string') return v.content;
  return null;
}

interface TemplateInfo {
  prefix: number[];
  suffix: number[];
}

/** Finds the TemplateProcessing (possibly inside a Sequence) and the special ids around $A. */
function templateInfo(pp: unknown): TemplateInfo | null {
  if (!isObj(pp)) return null;
  if (pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    for (const p of pp.processors) {
      const t = templateInfo(p);
      if (t) return t;
    }
    return null;
  }
  if (pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return null;
  const specials = isObj(pp.special_tokens) ? pp.special_tokens : {};
  const info: TemplateInfo = { prefix: [], suffix: [] };
  let seenA = false;
  for (const item of pp.single) {
    if (!isObj(item)) continue;
    if (isObj(item.Sequence)) {
      seenA = true;
      continue;
    }
    if (isObj(item.SpecialToken) && typeof item.SpecialToken.id === 'string') {
      const spec = specials[item.SpecialToken.id];
      const ids = isObj(spec) && Array.isArray(spec.ids) ? (spec.ids as number[]) : [];
      (seenA ? info.suffix : info.prefix).push(...ids);
    }
  }
  return info;
}

function decoderTypes(dec: unknown, out: Json[] = []): Json[] {
  if (!isObj(dec)) return out;
  if (dec.type === 'Sequence' && Array.isArray(dec.decoders)) for (const d of dec.decoders) decoderTypes(d, out);
  else out.push(dec);
  return out;
}

const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<|endoftext|>', '<eos>', '<|im_end|>', '<|eot_id|>'];

export class HFTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** The underlying `@huggingface/tokenizers` instance. */
  readonly impl: HFTokenizerImpl;
  private readonly special = new Set<number>();
  private readonly added = new Map<number, string>();
  private readonly byteLevel: boolean;
  private readonly spaceReplacements: [string, string][] = [];
  private readonly byteFallback: boolean;
  private readonly cleanUp: boolean;

  constructor(tokenizerJson: unknown, tokenizerConfig?: unknown) {
    if (!isObj(tokenizerJson) || !isObj(tokenizerJson.model)) {
      throw new Error('HF tokenizer: tokenizer.json must be an object with a "model" field');
    }
    const config: Json = isObj(tokenizerConfig) ? { ...tokenizerConfig } : {};
    // The library defaults clean_up_tokenization_spaces to true, which breaks round trips.
    this.cleanUp = config.clean_up_tokenization_spaces === true;
    config.clean_up_tokenization_spaces = this.cleanUp;
    const json: Json = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      added_tokens: [],
      ...tokenizerJson,
    };
    this.impl = new HFTokenizerImpl(json, config);

    let maxId = -1;
    for (const id of this.impl.get_vocab(true).values()) if (id > maxId) maxId = id;
    for (const [id, t] of this.impl.get_added_tokens_decoder()) {
      if (id > maxId) maxId = id;
      this.added.set(id, t.content);
      if (t.special) this.special.add(id);
    }
    this.vocabSize = maxId + 1;

    const idOf = (name: string | null): number | null => {
      if (name === null) return null;
      const id = this.impl.token_to_id(name);
      return id === undefined ? null : id;
    };
    const tpl = templateInfo(json.post_processor);
    const firstKnown = (names: string[]): number | null => {
      for (const n of names) {
        const id = idOf(n);
        if (id !== null) return id;
      }
      return null;
    };
    this.bos = idOf(tokenName(config.bos_token)) ?? (tpl?.prefix[0] ?? null) ?? firstKnown(BOS_NAMES);
    this.eos = idOf(tokenName(config.eos_token)) ?? (tpl?.suffix.at(-1) ?? null) ?? firstKnown(EOS_NAMES);
    const tplBos = !!tpl && this.bos !== null && tpl.prefix.includes(this.bos);
    const tplEos = !!tpl && this.eos !== null && tpl.suffix.includes(this.eos);
    this.addBos = this.bos !== null && (typeof config.add_bos_token === 'boolean' ? config.add_bos_token : tplBos);
    this.addEos = this.eos !== null && (typeof config.add_eos_token === 'boolean' ? config.add_eos_token : tplEos);

    const decs = decoderTypes(json.decoder);
    this.byteLevel = decs.some((d) => d.type === 'ByteLevel');
    this.byteFallback = decs.some((d) => d.type === 'ByteFallback') || (json.model as Json).byte_fallback === true;
    for (const d of decs) {
      if (d.type === 'Replace' && isObj(d.pattern) && typeof d.pattern.String === 'string' && typeof d.content === 'string') {
        this.spaceReplacements.push([d.pattern.String, d.content]);
      } else if (d.type === 'Metaspace') {
        this.spaceReplacements.push([typeof d.replacement === 'string' ? d.replacement : '\u2581', ' ']);
      }
    }
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = text.length === 0 ? [] : this.impl.encode(text, { add_special_tokens: false }).ids;
    for (const id of ids) {
      if (typeof id !== 'number') throw new Error(`HF tokenizer: text ${JSON.stringify(text.slice(0, 40))} produced a token with no id (no unk token)`);
    }
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bos !== null) out.push(this.bos);
    for (const id of ids) out.push(id);
    if ((opts.addEos ?? this.addEos) && this.eos !== null) out.push(this.eos);
    return out;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    for (const id of ids) checkId(id, this.vocabSize);
    if (ids.length === 0) return '';
    return this.impl.decode([...ids], {
      skip_special_tokens: opts.skipSpecial ?? true,
      clean_up_tokenization_spaces: this.cleanUp,
    });
  }

  tokenBytes(id: number): Uint8Array {
    checkId(id, this.vocabSize);
    if (this.special.has(id)) return EMPTY_BYTES;
    const added = this.added.get(id);
    if (added !== undefined) return utf8Encoder.encode(added);
    const tok = this.impl.id_to_token(id);
    if (tok === undefined) return EMPTY_BYTES;
    if (this.byteLevel) return unicodeToBytes(tok);
    if (this.byteFallback) {
      const b = parseByteToken(tok);
      if (b >= 0) return Uint8Array.of(b);
    }
    let s = tok;
    for (const [from, to] of this.spaceReplacements) s = s.replaceAll(from, to);
    return utf8Encoder.encode(s);
  }

  idToToken(id: number): string {
    checkId(id, this.vocabSize);
    const t = this.impl.id_to_token(id);
    if (t === undefined) throw new RangeError(`token id ${id} has no vocabulary entry`);
    return t;
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }
}

/** A tokenizer for a parsed HF `tokenizer.json` (and optional parsed `tokenizer_config.json`). */
export function tokenizerFromHF(tokenizerJson: unknown, tokenizerConfig?: unknown): Tokenizer {
  return new HFTokenizer(tokenizerJson, tokenizerConfig);
}
