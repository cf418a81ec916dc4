/** LLM-Adapters JSON, custom JSONL with templates, and the validation errors. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commonsenseDir, loadExamples, loadLLMAdaptersJSON } from './load.js';
import { parseTemplate, renderTemplate } from './template.js';

const dir = mkdtempSync(join(tmpdir(), 'moegraph-data-'));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('LLM-Adapters JSON', () => {
  it('parses the real arc-challenge and boolq test files', async () => {
    const arc = await loadLLMAdaptersJSON(join(commonsenseDir(), 'arc-challenge', 'test.json'));
    expect(arc.length).toBe(1172);
    expect(arc[0]).toEqual({
      id: 'test-0',
      prompt:
        'Please choose the correct answer to the question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\n\n' +
        'Answer1: Planetary density will decrease. Answer2: Planetary years will become longer. Answer3: Planetary days will become shorter. Answer4: Planetary gravity will become stronger.\n\n' +
        'Answer format: answer1/answer2/answer3/answer4\nAnswer:',
      labels: ['answer1', 'answer2', 'answer3', 'answer4'],
      label: 2,
    });
    const boolq = await loadExamples({ data: join(commonsenseDir(), 'boolq', '{split}.json') }, 'test');
    expect(boolq[0]!.labels).toEqual(['true', 'false']);
    expect(boolq[0]!.label).toBe(1);
    // The JSON files and the normalized files agree on every answer.
    const norm = await loadExamples({ task: 'boolq' }, 'test');
    expect(boolq.map((e) => e.label)).toEqual(norm.map((e) => e.label));
  });

  it('keeps an existing "\\nAnswer:", joins input, and falls back to output', async () => {
    const p = write(
      'la.json',
      JSON.stringify([
        { instruction: 'Q?\nAnswer format: yes/no\nAnswer:', input: '', output: 'the correct answer is no', answer: 'no' },
        { instruction: 'Q2?\nAnswer format: x/y/z', input: 'ctx', output: 'the correct answer is y' },
      ]),
    );
    const ex = await loadLLMAdaptersJSON(p);
    expect(ex[0]).toMatchObject({ prompt: 'Q?\nAnswer format: yes/no\nAnswer:', labels: ['yes', 'no'], label: 1 });
    expect(ex[1]).toMatchObject({ prompt: 'Q2?\nAnswer format: x/y/z\nctx\nAnswer:', labels: ['x', 'y', 'z'], label: 1 });
  });

  it('errors name the file, line and field', async () => {
    const p = write('bad.json', '[\n  {"instruction": "Q\\nAnswer format: a/b", "answer": "a"},\n  {"instruction": "Q\\nAnswer format: a/b", "answer": "c"}\n]');
    await expect(loadLLMAdaptersJSON(p)).rejects.toThrow(`${p}:3: field 'answer': 'c' is not one of a/b (entry 1)`);
    const q = write('nofmt.json', '[{"instruction": "no format", "answer": "a"}]');
    await expect(loadLLMAdaptersJSON(q)).rejects.toThrow(`${q}:1: field 'instruction' has no "Answer format`);
    const r = write('noinst.json', '[\n{"answer": "a"}]');
    await expect(loadLLMAdaptersJSON(r)).rejects.toThrow(`${r}:2: field 'instruction' must be a string`);
  });
});

describe('custom JSONL with a template', () => {
  const lines = [
    { question: 'What is 2+2?', choices: ['3', '4'], label: 1 },
    { id: 'sky', question: 'Is the sky blue', choices: ['yes', 'no'], labels: ['true', 'false'], label: 0 },
  ];
  const file = write('custom.jsonl', lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

  it('renders the default (ARC-style) template', async () => {
    const ex = await loadExamples({ data: file }, 'train');
    expect(ex[0]).toEqual({ id: 'custom-0', prompt: 'Please choose the correct answer to the question: What is 2+2? (A) 3 (B) 4\nAnswer:', labels: ['A', 'B'], label: 1 });
    expect(ex[1]).toEqual({ id: 'sky', prompt: 'Please choose the correct answer to the question: Is the sky blue (true) yes (false) no\nAnswer:', labels: ['true', 'false'], label: 0 });
  });

  it('renders a user template with {choice:N}, {label:N}, braces and {label}', async () => {
    const ex = await loadExamples({ data: file, template: 'Q: {question} {{x}}\n{label:0}={choice:0}; {label:1}={choice:1}\nAnswer: {label}' }, 'test');
    expect(ex[0]!.prompt).toBe('Q: What is 2+2? {x}\nA=3; B=4\nAnswer:');
    expect(ex[1]!.prompt).toBe('Q: Is the sky blue {x}\ntrue=yes; false=no\nAnswer:');
    const t = parseTemplate('{question}{choices}\nAnswer:');
    expect(renderTemplate(t, { question: 'q', choices: ['a', 'b', 'c'], labels: ['A', 'B', 'C'] })).toBe('q (A) a (B) b (C) c\nAnswer:');
  });

  it('a {split} path and a folder pick the split', async () => {
    write('train.jsonl', JSON.stringify(lines[0]));
    write('test.jsonl', JSON.stringify(lines[1]));
    expect((await loadExamples({ data: dir }, 'test'))[0]!.id).toBe('sky');
    expect((await loadExamples({ data: join(dir, '{split}.jsonl') }, 'train'))[0]!.id).toBe('train-0');
  });

  it('template errors', () => {
    expect(() => parseTemplate('{question} {answer}')).toThrow('unknown placeholder {answer} at offset 11');
    expect(() => parseTemplate('{label} more')).toThrow('{label} must end the template');
    expect(() => parseTemplate('a } b')).toThrow("unmatched '}' at offset 2");
    expect(() => parseTemplate('{question')).toThrow("unclosed '{' at offset 0");
  });

  it('validation errors name the file, line and field', async () => {
    const bad = write('bad.jsonl', [JSON.stringify(lines[0]), '', JSON.stringify({ question: 'q', choices: ['a', 'b'], label: 2 })].join('\n'));
    await expect(loadExamples({ data: bad }, 'train')).rejects.toThrow(`${bad}:3: field 'label' must be an integer in [0, 1], got 2`);
    const bad2 = write('bad2.jsonl', JSON.stringify({ question: 'q', choices: 'a b', label: 0 }));
    await expect(loadExamples({ data: bad2 }, 'train')).rejects.toThrow(`${bad2}:1: field 'choices' must be an array of at least 2 strings`);
    const bad3 = write('bad3.jsonl', '{"question": "q", "choices": ["a", "b"], "label": 0}\n{oops');
    await expect(loadExamples({ data: bad3 }, 'train')).rejects.toThrow(`${bad3}:2: invalid JSON`);
    const bad4 = write('bad4.jsonl', JSON.stringify({ question: 'q', choices: ['a', 'b'], labels: ['x'], label: 0 }));
    await expect(loadExamples({ data: bad4 }, 'train')).rejects.toThrow(`${bad4}:1: field 'labels' must be an array of at least 2 strings`);
    const bad5 = write('bad5.jsonl', JSON.stringify({ question: 'q', choices: ['a', 'b'], label: 0 }));
    await expect(loadExamples({ data: bad5, template: '{question} {choice:5}' }, 'train')).rejects.toThrow(`${bad5}:1: template: {choice:5} but this question has 2 choices`);
    await expect(loadExamples({ task: 'nope' as never }, 'train')).rejects.toThrow("unknown task 'nope'");
    await expect(loadExamples({ task: 'boolq', dataDir: dir }, 'train')).rejects.toThrow(`${join(dir, 'boolq', 'train.normalized.jsonl')}: cannot read`);
  });
});
