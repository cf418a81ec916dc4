import { describe, expect, it } from 'vitest';
import { BpeTokenizer } from './bpe.js';
import { ggufToHFTokenizerConfig, ggufToHFTokenizerJson, tokenizerFromGGUF } from './gguf.js';
import { SpmTokenizer } from './spm.js';
import { TokenType } from './types.js';
import { cloneMetadata, stories260KMetadata, syntheticBpe, syntheticBpeMetadata } from './test-helpers.js';

const meta = stories260KMetadata();

function withKey(key: string, value: unknown): Map<string, unknown> {
  const m = cloneMetadata(meta);
  if (value === undefined) m.delete(key);
  else m.set(key, value);
  return m;
}

describe('tokenizerFromGGUF', () => {
  it('picks SentencePiece for llama and byte-level BPE for gpt2', () => {
    expect(tokenizerFromGGUF(meta)).toBeInstanceOf(SpmTokenizer);
    expect(tokenizerFromGGUF(syntheticBpeMetadata(syntheticBpe(50)))).toBeInstanceOf(BpeTokenizer);
  });

  it('reads the add_bos / add_eos / add_space_prefix flags', () => {
    const t = tokenizerFromGGUF(withKey('tokenizer.ggml.add_bos_token', false));
    expect(t.addBos).toBe(false);
    expect(t.encode('Once')).toEqual([403]);
    const e = tokenizerFromGGUF(withKey('tokenizer.ggml.add_eos_token', true));
    expect(e.encode('Once')).toEqual([1, 403, 2]);
    const np = tokenizerFromGGUF(withKey('tokenizer.ggml.add_space_prefix', false)) as SpmTokenizer;
    expect(np.addSpacePrefix).toBe(false);
    expect(np.encode('Once', { addBos: false })).not.toEqual([403]); // no '▁' before 'Once'
    expect(np.decode(np.encode(' Once'))).toBe(' Once');
  });

  it('treats 0xFFFFFFFF / -1 ids as absent', () => {
    const t = tokenizerFromGGUF(withKey('tokenizer.ggml.eos_token_id', 0xffffffff));
    expect(t.eos).toBeNull();
    expect(t.encode('Once', { addEos: true })).toEqual([1, 403]);
    expect(tokenizerFromGGUF(withKey('tokenizer.ggml.bos_token_id', -1)).bos).toBeNull();
  });

  it('infers byte / control tokens when token_type is missing', () => {
    const t = tokenizerFromGGUF(withKey('tokenizer.ggml.token_type', undefined));
    const ref = tokenizerFromGGUF(meta);
    for (const s of ['Once upon a time 😀', 'a<s>b']) expect(t.encode(s)).toEqual(ref.encode(s));
    expect(t.decode(ref.encode('😀 x'))).toBe('😀 x');
  });

  it('reports missing and malformed keys by name', () => {
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.model', undefined))).toThrow(
      "GGUF tokenizer: missing required key 'tokenizer.ggml.model'",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.model', 'rwkv'))).toThrow(
      "tokenizer.ggml.model = 'rwkv' is not supported",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.tokens', undefined))).toThrow(
      "missing required key 'tokenizer.ggml.tokens'",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.scores', undefined))).toThrow(
      "missing required key 'tokenizer.ggml.scores'",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.tokens', 'abc'))).toThrow(
      "'tokenizer.ggml.tokens' must be an array of strings",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.tokens', []))).toThrow("'tokenizer.ggml.tokens' is empty");
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.tokens', [1, 2, 3]))).toThrow(
      "'tokenizer.ggml.tokens'[0] must be a string",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.model', 7))).toThrow("'tokenizer.ggml.model' must be a string");
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.add_bos_token', 'yes'))).toThrow(
      "'tokenizer.ggml.add_bos_token' must be a bool",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.bos_token_id', 512))).toThrow(
      "'tokenizer.ggml.bos_token_id' = 512 is out of range for 512 tokens",
    );
    expect(() => tokenizerFromGGUF(new Map() as Map<string, unknown>)).toThrow("missing required key 'tokenizer.ggml.model'");
    const gpt2 = syntheticBpeMetadata(syntheticBpe(20));
    gpt2.delete('tokenizer.ggml.merges');
    expect(() => tokenizerFromGGUF(gpt2)).toThrow("missing required key 'tokenizer.ggml.merges'");
  });

  it('rejects tokens / scores / token_type length mismatches', () => {
    const scores = meta.get('tokenizer.ggml.scores') as number[];
    const types = meta.get('tokenizer.ggml.token_type') as number[];
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.scores', scores.slice(0, 511)))).toThrow(
      "'tokenizer.ggml.scores' has 511 entries but 'tokenizer.ggml.tokens' has 512",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.token_type', [...types, 1]))).toThrow(
      "'tokenizer.ggml.token_type' has 513 entries but 'tokenizer.ggml.tokens' has 512",
    );
    expect(() => tokenizerFromGGUF(withKey('tokenizer.ggml.scores', scores.map((s, i) => (i === 7 ? 'x' : s))))).toThrow(
      "'tokenizer.ggml.scores'[7] must be a number",
    );
    // Typed arrays (as a GGUF reader may return) are accepted.
    expect(tokenizerFromGGUF(withKey('tokenizer.ggml.scores', Float32Array.from(scores))).encode('Once')).toEqual([1, 403]);
  });
});

describe('ggufToHFTokenizerJson', () => {
  const json = ggufToHFTokenizerJson(meta);

  it('builds a Llama (legacy) BPE tokenizer.json with byte fallback', () => {
    expect(json.model.type).toBe('BPE');
    expect(json.model.byte_fallback).toBe(true);
    expect(json.model.fuse_unk).toBe(true);
    expect(json.model.unk_token).toBe('<unk>');
    expect(Object.keys(json.model.vocab).length).toBe(512);
    expect(json.model.vocab['▁Once']).toBe(403);
    expect(json.normalizer).toEqual({
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    });
    expect(json.pre_tokenizer).toBeNull();
    expect(json.decoder).toEqual({
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    });
    expect(json.added_tokens.map((t) => [t.id, t.content, t.special])).toEqual([
      [0, '<unk>', true],
      [1, '<s>', true],
      [2, '</s>', true],
    ]);
    expect((json.post_processor as { single: unknown[] }).single).toEqual([
      { SpecialToken: { id: '<s>', type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
    ]);
  });

  it('derives merges from scores like SentencePieceExtractor', () => {
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const scores = meta.get('tokenizer.ggml.scores') as number[];
    const id = new Map(tokens.map((t, i) => [t, i]));
    const merges = json.model.merges;
    // Every merge joins two vocab pieces into a vocab piece, no duplicates, and the merged
    // pieces' scores never increase along the list.
    const seen = new Set<string>();
    let prev = Infinity;
    for (const [l, r] of merges) {
      expect(id.has(l) && id.has(r) && id.has(l + r)).toBe(true);
      const key = `${l}\u0000${r}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      const s = scores[id.get(l + r)!];
      expect(s).toBeLessThanOrEqual(prev);
      prev = s;
    }
    // Completeness: every split of every multi-character piece into two pieces is a merge.
    let expected = 0;
    for (const t of tokens) {
      const cps = Array.from(t);
      for (let k = 1; k < cps.length; k++) {
        const l = cps.slice(0, k).join('');
        if (id.has(l) && id.has(t.slice(l.length))) expected++;
      }
    }
    expect(merges.length).toBe(expected);
    // The best-scoring piece '▁t' (id 259, score -1) comes first; ties within one piece are
    // ordered by (left id, right id).
    expect(merges[0]).toEqual(['▁', 't']);
    const the = merges.filter(([l, r]) => l + r === '▁the');
    const order = the.map(([l, r]) => [id.get(l)!, id.get(r)!]);
    expect(order).toEqual([...order].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
    expect(the.length).toBeGreaterThan(1);
  });

  it('writes a matching tokenizer_config.json', () => {
    expect(ggufToHFTokenizerConfig(meta)).toMatchObject({
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      pad_token: null,
      clean_up_tokenization_spaces: false,
      tokenizer_class: 'LlamaTokenizer',
    });
  });

  it('only converts SentencePiece vocabularies', () => {
    expect(() => ggufToHFTokenizerJson(syntheticBpeMetadata(syntheticBpe(20)))).toThrow(/only converts tokenizer.ggml.model = 'llama'/);
    expect(TokenType.Byte).toBe(6);
  });
});
