import { describe, expect, it } from 'vitest';
import { tokenizerFromGGUF, ggufToHFTokenizerConfig, ggufToHFTokenizerJson } from './gguf.js';
import { HFTokenizer, tokenizerFromHF } from './hf.js';
import {
  stories260KMetadata,
  storiesGreedyText,
  syntheticBpe,
  syntheticBpeMetadata,
  syntheticBpeTokenizerJson,
  testStrings,
} from './test-helpers.js';

const meta = stories260KMetadata();
const spm = tokenizerFromGGUF(meta);
const strings = testStrings(40);

describe('tokenizerFromHF (Hugging Face tokenizer.json via @huggingface/tokenizers)', () => {
  it('wraps a Llama-style SentencePiece tokenizer.json + tokenizer_config.json', () => {
    // JSON round trip: exactly what would be written to / read from disk.
    const json = JSON.parse(JSON.stringify(ggufToHFTokenizerJson(meta))) as unknown;
    const config = JSON.parse(JSON.stringify(ggufToHFTokenizerConfig(meta))) as unknown;
    const hf = tokenizerFromHF(json, config);
    expect(hf).toBeInstanceOf(HFTokenizer);
    expect(hf.vocabSize).toBe(512);
    expect(hf.bos).toBe(1);
    expect(hf.eos).toBe(2);
    expect(hf.addBos).toBe(true);
    expect(hf.addEos).toBe(false);
    expect(hf.idToToken(403)).toBe('▁Once');
    expect(hf.tokenToId('▁Once')).toBe(403);
    expect(hf.isSpecial(1)).toBe(true);
    expect(hf.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(hf.encode('Once upon a time', { addBos: false, addEos: true })).toEqual([403, 407, 261, 378, 2]);
    expect(hf.decode([])).toBe('');
    for (const s of [...strings, storiesGreedyText()]) {
      const ids = hf.encode(s);
      expect(ids).toEqual(spm.encode(s));
      expect(hf.decode(ids)).toBe(s);
    }
    for (let id = 0; id < 512; id++) expect(Array.from(hf.tokenBytes(id))).toEqual(Array.from(spm.tokenBytes(id)));
  });

  it('takes BOS / addBos from the post-processor template when there is no tokenizer_config', () => {
    const hf = tokenizerFromHF(ggufToHFTokenizerJson(meta));
    expect(hf.bos).toBe(1);
    expect(hf.addBos).toBe(true);
    expect(hf.eos).toBe(2); // from the well-known added token '</s>'
    expect(hf.addEos).toBe(false);
    // tokenizer_config's add_bos_token overrides the template.
    const noBos = tokenizerFromHF(ggufToHFTokenizerJson(meta), { add_bos_token: false, bos_token: '<s>' });
    expect(noBos.addBos).toBe(false);
    expect(noBos.encode('Once')).toEqual([403]);
  });

  it('wraps a byte-level BPE tokenizer.json (Llama 3 style) and matches our GGUF BPE', () => {
    const v = syntheticBpe(300);
    const ours = tokenizerFromGGUF(syntheticBpeMetadata(v, 'llama-bpe'));
    const hf = tokenizerFromHF(syntheticBpeTokenizerJson(v, 'llama3'), { eos_token: '<|endoftext|>' });
    expect(hf.bos).toBe(v.specials[1].id);
    expect(hf.addBos).toBe(true);
    expect(hf.eos).toBe(v.specials[0].id);
    expect(hf.vocabSize).toBe(v.tokens.length);
    for (const s of [...strings, 'a<|endoftext|>b<|user|>c']) {
      const ids = hf.encode(s);
      expect(ids).toEqual(ours.encode(s));
      expect(hf.decode(ids)).toBe(ours.decode(ids));
    }
    for (let id = 0; id < v.tokens.length; id++) {
      expect(Array.from(hf.tokenBytes(id))).toEqual(Array.from(ours.tokenBytes(id)));
    }
  });

  it('rejects input without a model', () => {
    expect(() => tokenizerFromHF({})).toThrow(/"model"/);
    expect(() => tokenizerFromHF(null)).toThrow(/"model"/);
    expect(() => tokenizerFromHF(ggufToHFTokenizerJson(meta)).decode([512])).toThrow(/out of range/);
  });
});
