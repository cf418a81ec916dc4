import { Tokenizer as HFLib } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import {
  BYTES_TO_UNICODE,
  BpeTokenizer,
  PRETOKENIZE_PATTERNS,
  UNICODE_TO_BYTES,
  pretokenizerForPre,
  unicodeToBytes,
} from './bpe.js';
import { tokenizerFromGGUF } from './gguf.js';
import { TokenStreamDecoder } from './stream.js';
import {
  syntheticBpe,
  syntheticBpeMetadata,
  syntheticBpeTokenizerJson,
  testStrings,
} from './test-helpers.js';

const v = syntheticBpe(300);
const strings = [
  ...testStrings(60),
  'a<|endoftext|>b<|user|>c',
  'He said "zebra" and quixotic zebra, 123 1234 12345',
  "I'M HERE, YOU'LL SEE; They'Re 'd 'Dwight X'Sy 'LLama 'sam",
  'line\n\n  indented\r\n\tTabbed   \n',
];

describe('byte-level BPE', () => {
  it('has a reversible bytes-to-unicode table', () => {
    expect(new Set(BYTES_TO_UNICODE).size).toBe(256);
    expect(BYTES_TO_UNICODE[0x20]).toBe('Ġ');
    expect(BYTES_TO_UNICODE[0x0a]).toBe('Ċ');
    expect(BYTES_TO_UNICODE[0x41]).toBe('A');
    for (let b = 0; b < 256; b++) expect(UNICODE_TO_BYTES.get(BYTES_TO_UNICODE[b])).toBe(b);
  });

  it('maps tokenizer.ggml.pre to a pre-tokenizer', () => {
    expect(pretokenizerForPre('llama-bpe')).toBe('llama3');
    expect(pretokenizerForPre('llama3')).toBe('llama3');
    expect(pretokenizerForPre('qwen2')).toBe('qwen2');
    expect(pretokenizerForPre(undefined)).toBe('gpt2');
    expect(pretokenizerForPre('default')).toBe('gpt2');
    // The patterns compile on this runtime (no inline (?i:) flags).
    for (const p of Object.values(PRETOKENIZE_PATTERNS)) expect(() => new RegExp(p, 'gu')).not.toThrow();
    const split = (s: string, k: keyof typeof PRETOKENIZE_PATTERNS) => s.match(new RegExp(PRETOKENIZE_PATTERNS[k], 'gu'));
    expect(split("I'M 12345 ok", 'llama3')).toEqual(['I', "'M", ' ', '123', '45', ' ok']);
    expect(split("I'M 12345 ok", 'gpt2')).toEqual(['I', "'", 'M', ' 12345', ' ok']);
    expect(split('12345', 'qwen2')).toEqual(['1', '2', '3', '4', '5']);
  });

  it('the synthetic vocab has real merges', () => {
    expect(v.merges.length).toBeGreaterThan(200);
    expect(v.tokens.length).toBe(256 + v.merges.length + v.extraWords.length + v.specials.length);
  });

  for (const [style, pre] of [
    ['gpt2', undefined],
    ['llama3', 'llama-bpe'],
    ['qwen2', 'qwen2'],
  ] as const) {
    describe(`${style} pre-tokenizer (tokenizer.ggml.pre = ${pre})`, () => {
      const tok = tokenizerFromGGUF(syntheticBpeMetadata(v, pre)) as BpeTokenizer;
      const hf = new HFLib(syntheticBpeTokenizerJson(v, style), {});

      it('loads as a BpeTokenizer', () => {
        expect(tok).toBeInstanceOf(BpeTokenizer);
        expect(tok.vocabSize).toBe(v.tokens.length);
        expect(tok.eos).toBe(v.specials[0].id);
        expect(tok.bos).toBe(v.specials[1].id);
        expect(tok.addBos).toBe(style === 'llama3');
        expect(tok.ignoreMerges).toBe(style === 'llama3');
      });

      it('splits words exactly like the HF pre-tokenizer', () => {
        const dec = new TextDecoder();
        for (const s of strings) {
          for (const part of s.split(/<\|endoftext\|>|<\|user\|>/)) {
            if (!part) continue;
            const theirs = (hf.pre_tokenizer!(part) as string[]).map((w) => dec.decode(unicodeToBytes(w)));
            expect(tok.preTokenize(part)).toEqual(theirs);
          }
        }
      });

      it('gives the same ids as @huggingface/tokenizers', () => {
        const mismatches: { s: string; ours: string[]; theirs: string[] }[] = [];
        for (const s of strings) {
          const ours = tok.encode(s, { addBos: false });
          const theirs = hf.encode(s, { add_special_tokens: false }).ids;
          if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
            mismatches.push({ s, ours: ours.map((i) => tok.idToToken(i)), theirs: theirs.map((i) => tok.idToToken(i)) });
          }
        }
        expect(mismatches).toEqual([]);
      });

      it('round-trips and decodes like @huggingface/tokenizers', () => {
        for (const s of strings) {
          const ids = tok.encode(s);
          expect(tok.decode(ids, { skipSpecial: false }).replace('<|begin_of_text|>', '')).toBe(s);
          expect(hf.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false })).toBe(tok.decode(ids));
        }
      });
    });
  }

  it('ignore_merges (Llama 3) emits whole-vocabulary words that the merges would not build', () => {
    const l3 = tokenizerFromGGUF(syntheticBpeMetadata(v, 'llama3')) as BpeTokenizer;
    const g2 = tokenizerFromGGUF(syntheticBpeMetadata(v)) as BpeTokenizer;
    const zebra = v.tokens.indexOf('Ġzebra');
    expect(zebra).toBeGreaterThan(0);
    expect(l3.encode(' zebra', { addBos: false })).toEqual([zebra]);
    expect(g2.encode(' zebra', { addBos: false }).length).toBeGreaterThan(1);
  });

  it('matches special (control) and user-defined tokens literally', () => {
    const tok = tokenizerFromGGUF(syntheticBpeMetadata(v));
    const [eot, , user] = v.specials;
    const ids = tok.encode('a<|endoftext|>b<|user|>c');
    expect(ids).toContain(eot.id);
    expect(ids).toContain(user.id);
    expect(tok.decode(ids)).toBe('ab<|user|>c'); // control skipped, user-defined kept
    expect(tok.decode(ids, { skipSpecial: false })).toBe('a<|endoftext|>b<|user|>c');
    const plain = tok.encode('a<|endoftext|>b<|user|>c', { parseSpecial: false });
    expect(plain).not.toContain(eot.id);
    expect(plain).toContain(user.id); // user-defined tokens are always matched
    expect(tok.isSpecial(eot.id)).toBe(true);
    expect(tok.isSpecial(user.id)).toBe(false);
  });

  it('streams multi-byte characters split across tokens', () => {
    const tok = tokenizerFromGGUF(syntheticBpeMetadata(v));
    const s = 'naïve 😀 日本語 “x”';
    const ids = tok.encode(s);
    const stream = new TokenStreamDecoder(tok);
    const chunks = ids.map((id) => stream.push(id));
    expect(chunks.join('') + stream.flush()).toBe(s);
    expect(chunks).toContain(''); // some token ended mid-character
  });

  it('encodes a few KB of text quickly', () => {
    const tok = new BpeTokenizer({ tokens: v.tokens, merges: v.merges, types: v.types, bos: null, eos: null, pretokenizer: 'llama3' });
    const text = testStrings(80).join('\n');
    const reps = 5;
    let n = 0;
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) {
      // A fresh tokenizer state per rep would need a new instance; the word cache is part of real use.
      n += tok.encode(text).length;
    }
    const dt = (performance.now() - t0) / 1000;
    const cold = new BpeTokenizer({ tokens: v.tokens, merges: v.merges, types: v.types, bos: null, eos: null, pretokenizer: 'llama3' });
    const t1 = performance.now();
    const nCold = cold.encode(text).length;
    const dtCold = (performance.now() - t1) / 1000;
    console.log(
      `BPE encode: ${(text.length / 1024).toFixed(1)} KiB -> ${n / reps} tokens; ${Math.round(n / dt)} tokens/s (word cache warm), ` +
        `${Math.round(nCold / dtCold)} tokens/s (cold)`,
    );
    expect(dtCold).toBeLessThan(5);
  });
});
