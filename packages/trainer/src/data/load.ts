/**
 * Reading examples: the built-in tasks' `*.normalized.jsonl`, LLM-Adapters JSON files, and custom
 * JSONL rendered with a template. Every validation error names the file, the line and the field.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sharedDir } from '@moegraph/llm/node';
import { TASKS, type Example, type TaskName } from '../types.js';
import { buildExample, letterLabels, type NormalizedRow } from './prompts.js';
import { DEFAULT_TEMPLATE, parseTemplate, renderTemplate } from './template.js';

export type Split = 'train' | 'test';

export interface LoadConfig {
  task?: TaskName;
  /** Custom data: a `.jsonl` file (rendered with `template`) or an LLM-Adapters `.json` file. */
  data?: string;
  template?: string;
  dataDir?: string;
}

/** The commonsense folder: explicit, else $MOEGRAPH_DATA, else <shared>/data/commonsense. */
export function commonsenseDir(explicit?: string): string {
  return explicit ?? process.env.MOEGRAPH_DATA ?? join(sharedDir(), 'data', 'commonsense');
}

/**
 * Examples of one split. With `task`: `{dataDir}/{task}/{split}.normalized.jsonl`. With `data`:
 * a literal "{split}" in the path is replaced by the split; a folder means `{folder}/{split}.jsonl`
 * (or `{split}.json`); a plain file is read as is for either split (the caller keeps train and
 * test apart). `.json` files are LLM-Adapters arrays; anything else is JSONL with a template.
 */
export async function loadExamples(cfg: LoadConfig, split: Split): Promise<Example[]> {
  if (split !== 'train' && split !== 'test') throw new Error(`loadExamples: split must be 'train' or 'test', got '${String(split)}'`);
  if (cfg.task && cfg.data) throw new Error(`loadExamples: give either task ('${cfg.task}') or data ('${cfg.data}'), not both`);
  if (cfg.task) {
    if (!TASKS.includes(cfg.task)) throw new Error(`loadExamples: unknown task '${cfg.task}' (known: ${TASKS.join(', ')})`);
    const file = join(commonsenseDir(cfg.dataDir), cfg.task, `${split}.normalized.jsonl`);
    const rows = await loadNormalizedRows(file);
    return rows.map((r) => buildExample(cfg.task!, r));
  }
  if (!cfg.data) throw new Error('loadExamples: need a task or a data file');
  let file = cfg.data.replaceAll('{split}', split);
  if ((await stat(file).catch(() => null))?.isDirectory()) {
    const dir = file;
    const candidates = [join(dir, `${split}.jsonl`), join(dir, `${split}.json`)];
    const found = [];
    for (const c of candidates) if ((await stat(c).catch(() => null))?.isFile()) found.push(c);
    if (found.length === 0) throw new Error(`loadExamples: folder ${dir} has neither ${split}.jsonl nor ${split}.json`);
    file = found[0]!;
  }
  if (file.endsWith('.json')) return loadLLMAdaptersJSON(file);
  return loadCustomJSONL(file, cfg.template ?? DEFAULT_TEMPLATE);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
}

/** Parsed JSON objects of a JSONL file with their 1-based line numbers (blank lines skipped). */
function jsonLines(file: string, text: string): { line: number; value: Record<string, unknown> }[] {
  const out: { line: number; value: Record<string, unknown> }[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (!s) return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}:${i + 1}: expected a JSON object`);
    out.push({ line: i + 1, value: v as Record<string, unknown> });
  });
  if (out.length === 0) throw new Error(`${file}: no examples`);
  return out;
}

const where = (file: string, line: number, field: string) => `${file}:${line}: field '${field}'`;

function str(v: Record<string, unknown>, field: string, file: string, line: number): string {
  const x = v[field];
  if (typeof x !== 'string') throw new Error(`${where(file, line, field)} must be a string, got ${JSON.stringify(x) ?? 'nothing'}`);
  return x;
}

function strArray(v: Record<string, unknown>, field: string, file: string, line: number, minLen: number): string[] {
  const x = v[field];
  if (!Array.isArray(x) || x.length < minLen || x.some((c) => typeof c !== 'string')) {
    throw new Error(`${where(file, line, field)} must be an array of at least ${minLen} strings, got ${JSON.stringify(x) ?? 'nothing'}`);
  }
  return x as string[];
}

function index(v: Record<string, unknown>, field: string, n: number, file: string, line: number): number {
  const x = v[field];
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= n) {
    throw new Error(`${where(file, line, field)} must be an integer in [0, ${n - 1}], got ${JSON.stringify(x) ?? 'nothing'}`);
  }
  return x;
}

/** `{id, question, choices[], label}` lines (the built-in tasks' normalized files). */
export async function loadNormalizedRows(file: string): Promise<NormalizedRow[]> {
  return jsonLines(file, await readText(file)).map(({ line, value }) => {
    const choices = strArray(value, 'choices', file, line, 2);
    return { id: str(value, 'id', file, line), question: str(value, 'question', file, line), choices, label: index(value, 'label', choices.length, file, line) };
  });
}

/**
 * Custom JSONL: each line `{question, choices[], label}` with optional `id` and `labels` (answer
 * labels, one per choice; default A, B, C, ...), rendered with a template (see template.ts).
 */
export async function loadCustomJSONL(file: string, template: string): Promise<Example[]> {
  const t = parseTemplate(template);
  const stem = basename(file).replace(/\.[^.]*$/, '');
  return jsonLines(file, await readText(file)).map(({ line, value }, i) => {
    const question = str(value, 'question', file, line);
    const choices = strArray(value, 'choices', file, line, 2);
    let labels = letterLabels(choices.length);
    if (value.labels !== undefined) {
      labels = strArray(value, 'labels', file, line, 2);
      if (labels.length !== choices.length) throw new Error(`${where(file, line, 'labels')} has ${labels.length} entries for ${choices.length} choices`);
      if (new Set(labels).size !== labels.length) throw new Error(`${where(file, line, 'labels')} has duplicates: ${JSON.stringify(labels)}`);
    }
    const label = index(value, 'label', choices.length, file, line);
    const id = value.id === undefined ? `${stem}-${i}` : String(value.id);
    let prompt: string;
    try {
      prompt = renderTemplate(t, { question, choices, labels });
    } catch (e) {
      throw new Error(`${file}:${line}: ${(e as Error).message}`);
    }
    return { id, prompt, labels, label };
  });
}

/** 1-based line of each top-level array element of a JSON text (for error messages). */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') {
      if (depth === 1) lines.push(line);
      inStr = true;
    } else if (c === '{' || c === '[') {
      if (depth === 1) lines.push(line);
      depth++;
    } else if (c === '}' || c === ']') depth--;
    else if (depth === 1 && /[-0-9tfn]/.test(c) && !/[-0-9.eE+a-z]/.test(text[i - 1] ?? ' ')) lines.push(line);
  }
  return lines;
}

/**
 * An LLM-Adapters file: a JSON array of `{instruction, input, output, answer}`. The prompt is the
 * instruction (plus "\n" + input when present), with "\nAnswer:" appended unless it already ends
 * so; the candidate labels come from the instruction's "Answer format: a/b/c" line, and the
 * correct one is `answer` (or, without it, the last word of `output`).
 */
export async function loadLLMAdaptersJSON(file: string): Promise<Example[]> {
  const text = await readText(file);
  let arr: unknown;
  try {
    arr = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(arr) || arr.length === 0) throw new Error(`${file}: expected a non-empty JSON array of {instruction, input, output, answer}`);
  const lines = elementLines(text);
  const stem = basename(file).replace(/\.[^.]*$/, '');
  return arr.map((v, i) => {
    const line = lines[i] ?? 0;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}:${line}: entry ${i} must be an object`);
    const o = v as Record<string, unknown>;
    const instruction = str(o, 'instruction', file, line);
    const input = o.input === undefined ? '' : str(o, 'input', file, line);
    const fmt = /^Answer format:\s*(.+?)\s*$/m.exec(instruction);
    if (!fmt) throw new Error(`${where(file, line, 'instruction')} has no "Answer format: a/b/..." line (entry ${i})`);
    const labels = fmt[1]!.split('/').map((s) => s.trim());
    if (labels.length < 2 || labels.some((l) => !l) || new Set(labels).size !== labels.length) {
      throw new Error(`${where(file, line, 'instruction')}: bad answer format '${fmt[1]}' (entry ${i})`);
    }
    let answer: string;
    if (o.answer !== undefined) answer = str(o, 'answer', file, line).trim();
    else answer = (/(\S+)\s*$/.exec(str(o, 'output', file, line))?.[1] ?? '').replace(/[.]$/, '');
    const label = labels.indexOf(answer);
    if (label < 0) throw new Error(`${where(file, line, o.answer !== undefined ? 'answer' : 'output')}: '${answer}' is not one of ${labels.join('/')} (entry ${i})`);
    let prompt = input ? `${instruction}\n${input}` : instruction;
    if (!prompt.endsWith('\nAnswer:')) prompt += '\nAnswer:';
    return { id: `${stem}-${i}`, prompt, labels, label };
  });
}
