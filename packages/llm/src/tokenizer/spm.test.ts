import { Tokenizer as HFLib } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { ggufToHFTokenizerJson, tokenizerFromGGUF } from './gguf.js';
import { SpmTokenizer } from './spm.js';
import { TokenStreamDecoder } from './stream.js';
import { stories260KMetadata, storiesGreedyText, testStrings } from './test-helpers.js';

const meta = stories260KMetadata();
const tok = tokenizerFromGGUF(meta) as SpmTokenizer;
const strings = testStrings(80);
const pieces = (ids: number[]): string[] => ids.map((id) => tok.idToToken(id));

describe('SentencePiece BPE on the real stories260K vocabulary', () => {
  it('loads the GGUF vocabulary', () => {
    expect(tok).toBeInstanceOf(SpmTokenizer);
    expect(tok.vocabSize).toBe(512);
    expect(tok.bos).toBe(1);
    expect(tok.eos).toBe(2);
    expect(tok.unk).toBe(0);
    expect(tok.addBos).toBe(true);
    expect(tok.addEos).toBe(false);
    expect(tok.idToToken(1)).toBe('<s>');
    expect(tok.tokenToId('▁Once')).toBeTypeOf('number');
    expect(tok.isSpecial(1)).toBe(true);
    expect(tok.isSpecial(300)).toBe(false);
  });

  it("encodes 'Once upon a time'", () => {
    const ids = tok.encode('Once upon a time');
    expect(pieces(ids)).toEqual(['<s>', '▁Once', '▁upon', '▁a', '▁time']);
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    expect(tok.encode('Once upon a time', { addBos: false, addEos: true })).toEqual([403, 407, 261, 378, 2]);
    expect(tok.decode(ids)).toBe('Once upon a time');
    expect(tok.decode(ids, { skipSpecial: false })).toBe('<s>Once upon a time');
  });

  it('merges by highest score, leftmost on ties', () => {
    // 'Lily' -> '▁Lily' is a single piece; 'little' -> '▁little'.
    expect(pieces(tok.encode('Lily little', { addBos: false }))).toEqual(['▁Lily', '▁little']);
    expect(tok.encode('', { addBos: false })).toEqual([]);
    expect(tok.encode('')).toEqual([1]);
  });

  it('handles lone surrogates without throwing', () => {
    const ids = tok.encode('a\ud800b\udc00', { addBos: false });
    expect(tok.decode(ids)).toBe('a\uFFFDb\uFFFD');
  });

  it('falls back to byte tokens for characters outside the vocabulary', () => {
    const ids = tok.encode('😀', { addBos: false });
    // '▁' piece, then the 4 UTF-8 bytes F0 9F 98 80 as <0xXX> tokens (ids 3 + byte).
    expect(pieces(ids)).toEqual(['▁', '<0xF0>', '<0x9F>', '<0x98>', '<0x80>']);
    expect(ids.slice(1)).toEqual([0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
    expect(tok.decode(ids)).toBe('😀');
    // An incomplete UTF-8 sequence decodes without throwing.
    expect(tok.decode([0xf0 + 3, 0x9f + 3])).toBe('\uFFFD');
  });

  it('does not match control tokens written in the text (unless parseSpecial)', () => {
    const ids = tok.encode('a<s>b</s>', { addBos: false });
    expect(ids).not.toContain(1);
    expect(ids).not.toContain(2);
    expect(tok.decode(ids)).toBe('a<s>b</s>');
    const parsed = tok.encode('a<s>b</s>', { addBos: false, parseSpecial: true });
    expect(parsed).toContain(1);
    expect(parsed.at(-1)).toBe(2);
    // A dummy-prefix space is added again after a special token (llama.cpp's is_prev_special).
    expect(pieces(parsed)).toEqual(['▁a', '<s>', '▁b', '</s>']);
  });

  it('round-trips decode(encode(s)) === s on the commonsense questions and unicode strings', () => {
    expect(strings.length).toBeGreaterThan(300);
    const failures: string[] = [];
    for (const s of strings) {
      const ids = tok.encode(s);
      if (ids[0] !== 1 || ids.some((id) => !(id >= 0 && id < 512)) || tok.decode(ids) !== s) failures.push(s);
    }
    expect(failures).toEqual([]);
  });

  it("is lossy only for a literal U+2581 '▁' in the input (it is SentencePiece's space)", () => {
    const s = '▁ already escaped ▁▁ metaspace';
    expect(tok.decode(tok.encode(s))).toBe(s.replaceAll('▁', ' '));
  });

  it('reproduces the known greedy text from the model README exactly', () => {
    const text = storiesGreedyText();
    expect(text.startsWith('Once upon a time, there was a little girl named Lily.')).toBe(true);
    expect(text).toContain('\n');
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    // Only the newline needs byte fallback in this TinyStories vocabulary.
    const byteTokens = pieces(ids).filter((p) => /^<0x/.test(p));
    expect(byteTokens).toEqual(['<0x0A>']);
    expect(pieces(ids).slice(0, 8)).toEqual(['<s>', '▁Once', '▁upon', '▁a', '▁time', ',', '▁there', '▁was']);
  });

  it('streams with tokenBytes / TokenStreamDecoder', () => {
    for (const s of ['Hello 😀 wörld — “ok”\nbye', storiesGreedyText()]) {
      const ids = tok.encode(s, { addBos: false });
      const stream = new TokenStreamDecoder(tok);
      let out = '';
      for (const id of ids) out += stream.push(id);
      out += stream.flush();
      // Streaming keeps the dummy-prefix space that a full decode strips.
      expect(out).toBe(' ' + s);
    }
    expect(Array.from(tok.tokenBytes(1))).toEqual([]);
    expect(Array.from(tok.tokenBytes(3 + 0x41))).toEqual([0x41]);
    expect(new TextDecoder().decode(tok.tokenBytes(tok.tokenToId('▁Once')!))).toBe(' Once');
  });

  it('gives the same ids as @huggingface/tokenizers on the converted tokenizer.json', () => {
    const hf = new HFLib(ggufToHFTokenizerJson(meta), {});
    const extra = ['▁ already escaped ▁▁ metaspace', 'x'.repeat(7), 'aaaa', '▁▁▁', 'oooo ll ll', 'the the the', '  ', '\n\n\n'];
    const mismatches: { s: string; ours: number[]; theirs: number[] }[] = [];
    for (const s of [...strings, ...extra]) {
      const ours = tok.encode(s);
      const theirs = hf.encode(s).ids; // add_special_tokens: the template adds <s>
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) mismatches.push({ s, ours, theirs });
      else expect(hf.decode(theirs, { skip_special_tokens: true, clean_up_tokenization_spaces: false })).toBe(tok.decode(ours));
    }
    expect(mismatches).toEqual([]);
  });

  it('encodes a few KB of text quickly (priority queue, not quadratic)', () => {
    const text = strings.join('\n');
    expect(text.length).toBeGreaterThan(4000);
    tok.encode(text); // warm-up
    const reps = 5;
    const t0 = performance.now();
    let n = 0;
    for (let r = 0; r < reps; r++) n += tok.encode(text).length;
    const dt = (performance.now() - t0) / 1000;
    console.log(`SPM encode: ${(text.length / 1024).toFixed(1)} KiB -> ${n / reps} tokens, ${Math.round(n / dt)} tokens/s`);
    // One long fragment must not be quadratic either.
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(500);
    const t1 = performance.now();
    const ids = tok.encode(long);
    expect(performance.now() - t1).toBeLessThan(2000);
    expect(tok.decode(ids)).toBe(long);
  });
});
