#!/usr/bin/env node
/**
 * The `moegraph` command line: `moegraph train` fine-tunes one method on one task and writes a
 * RunResult JSON; `moegraph eval` scores a model (optionally with a saved adapter) on a test split.
 * Usage errors (unknown flags, bad values, missing files) exit with code 2; failures while
 * running exit with code 1.
 */
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAdapter, saveAdapter } from '@moegraph/lora';
import { writeFileAtomic } from './checkpoint/index.js';
import { loadExamples } from './data/load.js';
import { evaluate } from './eval/score.js';
import { defaultModelPath, defaultRunConfig, limitExamples, loadForRun, runExperiment, validateRunConfig } from './run.js';
import { METHODS, TASKS, type MethodName, type RunConfig, type TaskName } from './types.js';

export class UsageError extends Error {}

type Kind = 'string' | 'int' | 'number' | 'boolean' | 'json' | 'list';
interface Flag {
  name: string;
  kind: Kind;
  /** RunConfig field it sets (train). */
  field?: keyof RunConfig;
  help: string;
  choices?: readonly string[];
  commands: readonly ('train' | 'eval')[];
  env?: string;
}

const BOTH = ['train', 'eval'] as const;
const TRAIN = ['train'] as const;

/** Every flag, in --help order. */
export const FLAGS: readonly Flag[] = [
  { name: 'model', kind: 'string', field: 'model', commands: BOTH, env: 'MOEGRAPH_MODEL', help: 'GGUF file or Hugging Face model folder/URL (default: $MOEGRAPH_MODEL, else the shared stories260K GGUF)' },
  { name: 'task', kind: 'string', field: 'task', commands: BOTH, choices: TASKS, help: `built-in task: ${TASKS.join(', ')} (default arc-challenge unless --data is given)` },
  { name: 'data', kind: 'string', field: 'data', commands: BOTH, help: 'custom data instead of --task: a .jsonl file or folder ({split} in the path is replaced by train/test)' },
  { name: 'template', kind: 'string', field: 'template', commands: BOTH, help: 'prompt template for --data: {question}, {choices}, {label:N} ... (see the README)' },
  { name: 'data-dir', kind: 'string', field: 'dataDir', commands: BOTH, env: 'MOEGRAPH_DATA', help: 'folder holding the commonsense tasks (default: $MOEGRAPH_DATA, else <shared>/data/commonsense)' },
  { name: 'method', kind: 'string', field: 'method', commands: TRAIN, choices: METHODS, help: `method: ${METHODS.join(', ')} (default mixlora)` },
  { name: 'seed', kind: 'int', field: 'seed', commands: BOTH, help: 'one seed for initialisation, data order, dropout and expert graphs (default 0)' },
  { name: 'backend', kind: 'string', field: 'backend', commands: BOTH, choices: ['auto', 'cpu', 'webgpu'], help: 'auto (webgpu when available, else cpu), cpu or webgpu (default auto)' },
  { name: 'epochs', kind: 'int', field: 'epochs', commands: TRAIN, help: 'training epochs (default 2)' },
  { name: 'batch-size', kind: 'int', field: 'batchSize', commands: BOTH, help: 'examples per batch (default 16); eval: scoring batch size' },
  { name: 'grad-accum', kind: 'int', field: 'gradAccum', commands: TRAIN, help: 'batches accumulated per optimizer step (default 1)' },
  { name: 'lr', kind: 'number', field: 'lr', commands: TRAIN, help: 'peak learning rate (default 2e-4)' },
  { name: 'weight-decay', kind: 'number', field: 'weightDecay', commands: TRAIN, help: 'AdamW decoupled weight decay (default 0)' },
  { name: 'schedule', kind: 'string', field: 'schedule', commands: TRAIN, choices: ['constant', 'linear', 'cosine'], help: 'learning-rate schedule after warmup (default linear)' },
  { name: 'warmup-steps', kind: 'int', field: 'warmupSteps', commands: TRAIN, help: 'linear warmup steps (default 0)' },
  { name: 'cutoff', kind: 'int', field: 'cutoff', commands: BOTH, help: 'tokens per example; longer ones lose their earliest prompt tokens (default 512)' },
  { name: 'max-grad-norm', kind: 'number', field: 'maxGradNorm', commands: TRAIN, help: 'clip the global gradient norm to this value (default: no clipping)' },
  { name: 'loss-on', kind: 'string', field: 'lossOn', commands: TRAIN, choices: ['answer', 'all'], help: "'answer': loss on answer tokens only (default); 'all': every position (reference)" },
  { name: 'r', kind: 'int', field: 'r', commands: TRAIN, help: 'LoRA rank (default 8; gmoe 2; graphmoe 16)' },
  { name: 'alpha', kind: 'number', field: 'alpha', commands: TRAIN, help: 'LoRA alpha (default 16; gmoe 4; graphmoe 32)' },
  { name: 'dropout', kind: 'number', field: 'dropout', commands: TRAIN, help: 'LoRA dropout (default 0.05)' },
  { name: 'num-experts', kind: 'int', field: 'numExperts', commands: TRAIN, help: 'experts per mixture layer (default 8)' },
  { name: 'top-k', kind: 'int', field: 'topK', commands: TRAIN, help: 'experts per token (default 2; loramoe is dense)' },
  { name: 'options', kind: 'json', field: 'options', commands: TRAIN, help: 'method options as a JSON object, or @file.json (keys: see the README)' },
  { name: 'option', kind: 'list', commands: TRAIN, help: 'one method option key=value (value parsed as JSON, else a string); repeatable, overrides --options' },
  { name: 'train-limit', kind: 'int', field: 'trainLimit', commands: TRAIN, help: 'use only N training examples (seeded subset; default all)' },
  { name: 'eval-limit', kind: 'int', field: 'evalLimit', commands: BOTH, help: 'use only N test examples (the same subset for every seed; default all)' },
  { name: 'no-eval', kind: 'boolean', commands: TRAIN, help: 'skip evaluation after training' },
  { name: 'checkpoint-dir', kind: 'string', field: 'checkpointDir', commands: TRAIN, help: 'folder for atomic training checkpoints' },
  { name: 'checkpoint-every', kind: 'int', field: 'checkpointEvery', commands: TRAIN, help: 'write a checkpoint every N optimizer steps (and at the end; needs --checkpoint-dir)' },
  { name: 'resume', kind: 'boolean', commands: TRAIN, help: 'continue from the latest checkpoint in --checkpoint-dir (ends exactly as an uninterrupted run)' },
  { name: 'nan-policy', kind: 'string', field: 'nanPolicy', commands: TRAIN, choices: ['stop', 'skip'], help: "non-finite loss: 'stop' with an error naming the step (default) or 'skip' the update" },
  { name: 'save-adapter', kind: 'string', commands: TRAIN, help: 'save the trained adapter (safetensors + adapter_config.json) to this folder' },
  { name: 'adapter', kind: 'string', commands: ['eval'], help: 'eval: a saved adapter folder to attach before scoring (default: the base model)' },
  { name: 'out', kind: 'string', commands: BOTH, help: 'write the results JSON here (atomically); default: print it to stdout' },
  { name: 'quiet', kind: 'boolean', commands: BOTH, help: 'no progress output on stderr' },
  { name: 'help', kind: 'boolean', commands: BOTH, help: 'show this help' },
];

export function helpText(command?: 'train' | 'eval'): string {
  const flags = FLAGS.filter((f) => !command || f.commands.includes(command));
  const width = Math.max(...flags.map((f) => f.name.length + (f.kind === 'boolean' ? 0 : 6))) + 4;
  const lines = flags.map((f) => {
    const arg = f.kind === 'boolean' ? '' : f.kind === 'int' || f.kind === 'number' ? ' <n>' : f.kind === 'json' ? ' <json>' : f.kind === 'list' ? ' <k=v>' : ' <s>';
    const left = `  --${f.name}${arg}`;
    const only = command ? '' : f.commands.length === 1 ? ` [${f.commands[0]} only]` : '';
    return `${left.padEnd(width + 2)} ${f.help}${only}`;
  });
  return [
    'moegraph: fine-tune and evaluate LoRA / mixture-of-LoRA-experts methods (lora, dora, mixlora, loramoe, mola, mingmoe, gmoe, graphmoe)',
    '',
    'Usage:',
    '  moegraph train [flags]   train one method on one task, evaluate it, write a RunResult JSON',
    '  moegraph eval  [flags]   score a model (optionally with --adapter) on a test split',
    '  moegraph help            show this help',
    '',
    `Flags${command ? ` (${command})` : ''}:`,
    ...lines,
    '',
    'Environment: MOEGRAPH_MODEL (default model), MOEGRAPH_DATA (data folder), MOEGRAPH_SHARED (shared folder), MOEGRAPH_BACKEND.',
    'Exit codes: 0 success, 1 failure while running (e.g. a non-finite loss with --nan-policy stop), 2 usage error.',
  ].join('\n');
}

function parseValue(f: Flag, raw: string): unknown {
  const fail = (want: string): never => {
    throw new UsageError(`--${f.name}: expected ${want}, got '${raw}'`);
  };
  switch (f.kind) {
    case 'int': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isInteger(n)) fail('an integer');
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) fail('a number');
      return n;
    }
    case 'string':
      if (f.choices && !f.choices.includes(raw)) fail(`one of ${f.choices.join(', ')}`);
      return raw;
    default:
      return raw;
  }
}

async function parseJSONFlag(name: string, raw: string): Promise<Record<string, unknown>> {
  let text = raw;
  if (raw.startsWith('@')) {
    const file = raw.slice(1);
    if (!existsSync(file)) throw new UsageError(`--${name}: file not found: ${file}`);
    text = await readFile(file, 'utf8');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--${name}: not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`--${name}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export interface ParsedArgs {
  command: 'train' | 'eval' | 'help';
  cfg: RunConfig;
  resume: boolean;
  noEval: boolean;
  quiet: boolean;
  out?: string;
  saveAdapter?: string;
  adapter?: string;
  help: boolean;
}

const isURL = (s: string) => /^https?:\/\//.test(s);

/** Parse argv (without node and the script); throws UsageError on bad input. */
export async function parseCli(argv: readonly string[]): Promise<ParsedArgs> {
  const [first, ...rest] = argv;
  let command: ParsedArgs['command'];
  let args: readonly string[];
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    return { command: 'help', cfg: defaultRunConfig(), resume: false, noEval: false, quiet: false, help: true };
  }
  if (first === 'train' || first === 'eval') {
    command = first;
    args = rest;
  } else if (first.startsWith('-')) {
    throw new UsageError(`missing command before '${first}' (use 'moegraph train' or 'moegraph eval')`);
  } else {
    throw new UsageError(`unknown command '${first}' (use 'train', 'eval' or 'help')`);
  }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const f of FLAGS) options[f.name] = { type: f.kind === 'boolean' ? 'boolean' : 'string', ...(f.kind === 'list' ? { multiple: true } : {}) };
  options.help!.short = 'h';
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...args], options, strict: true, allowPositionals: true }));
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(msg);
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (flags start with --; see --help)`);
  const help = !!values.help;
  if (help) return { command, cfg: defaultRunConfig(), resume: false, noEval: false, quiet: false, help: true };

  const partial: Record<string, unknown> = {};
  for (const f of FLAGS) {
    const v = values[f.name];
    if (v === undefined) continue;
    if (!f.commands.includes(command)) throw new UsageError(`--${f.name} is not a flag of 'moegraph ${command}' (see moegraph ${command} --help)`);
    if (!f.field) continue;
    if (f.kind === 'json') partial[f.field] = await parseJSONFlag(f.name, v as string);
    else partial[f.field] = parseValue(f, v as string);
  }
  const optList = (values.option as string[] | undefined) ?? [];
  if (optList.length) {
    const o = { ...((partial.options as Record<string, unknown> | undefined) ?? {}) };
    for (const kv of optList) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--option: expected key=value, got '${kv}'`);
      const key = kv.slice(0, eq);
      const raw = kv.slice(eq + 1);
      let val: unknown;
      try {
        val = JSON.parse(raw);
      } catch {
        val = raw;
      }
      o[key] = val;
    }
    partial.options = o;
  }
  const cfg = defaultRunConfig(partial as Partial<RunConfig>);
  if (partial.data) delete cfg.task;
  if (!cfg.model) cfg.model = await defaultModelPath();
  if (!isURL(cfg.model) && !existsSync(cfg.model)) throw new UsageError(`--model: file or folder not found: ${cfg.model}`);
  if (cfg.data && !cfg.data.includes('{split}') && !existsSync(cfg.data)) throw new UsageError(`--data: file or folder not found: ${cfg.data}`);
  if (cfg.dataDir && !existsSync(cfg.dataDir)) throw new UsageError(`--data-dir: folder not found: ${cfg.dataDir}`);
  if (cfg.task && !cfg.data) {
    const dir = cfg.dataDir ?? process.env.MOEGRAPH_DATA;
    if (dir && !existsSync(dir)) throw new UsageError(`data folder not found: ${dir} (from ${cfg.dataDir ? '--data-dir' : 'MOEGRAPH_DATA'})`);
  }
  const resume = !!values.resume;
  if (resume && !cfg.checkpointDir) throw new UsageError('--resume needs --checkpoint-dir');
  if (cfg.checkpointEvery !== undefined && !cfg.checkpointDir) throw new UsageError('--checkpoint-every needs --checkpoint-dir');
  if (cfg.checkpointDir && cfg.checkpointEvery === undefined) cfg.checkpointEvery = 0;
  const adapter = values.adapter as string | undefined;
  if (adapter && !existsSync(adapter)) throw new UsageError(`--adapter: folder not found: ${adapter}`);
  try {
    validateRunConfig(cfg);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    command, cfg, resume, help: false,
    noEval: !!values['no-eval'], quiet: !!values.quiet,
    out: values.out as string | undefined, saveAdapter: values['save-adapter'] as string | undefined, adapter,
  };
}

async function writeOut(out: string | undefined, value: unknown): Promise<void> {
  const text = JSON.stringify(value, null, 2) + '\n';
  if (!out) {
    process.stdout.write(text);
    return;
  }
  const path = resolve(out);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text);
  process.stderr.write(`results written to ${path}\n`);
}

async function runTrain(a: ParsedArgs): Promise<void> {
  // Checkpoints are written at the end when a folder is given without a frequency.
  const result = await runExperiment(a.cfg, {
    resume: a.resume,
    skipEval: a.noEval,
    showProgress: !a.quiet,
    onTrained: a.saveAdapter ? async (m) => saveAdapter(m.adapter, a.saveAdapter!) : undefined,
  });
  await writeOut(a.out, result);
}

async function runEval(a: ParsedArgs): Promise<void> {
  const cfg = a.cfg;
  const examples = limitExamples(await loadExamples(cfg, 'test'), cfg.evalLimit, 0x45564c30);
  const { backend, model, tokenizer } = await loadForRun(cfg);
  await import('@moegraph/graph-router');
  await import('@moegraph/recurrent-router');
  const adapter = a.adapter ? await loadAdapter(model, a.adapter) : null;
  try {
    if (adapter) adapter.training = false;
    const r = await evaluate(model, tokenizer, examples, { batchSize: cfg.batchSize, adapter: adapter ?? undefined, cutoff: Math.min(cfg.cutoff, model.config.maxSeqLen || cfg.cutoff) });
    await writeOut(a.out, {
      model: cfg.model, task: cfg.task, data: cfg.data, adapter: a.adapter ?? null, backend: backend.name,
      accuracy: r.accuracy, evalExamples: examples.length, evalSeconds: r.seconds, evalSamplesPerSec: r.samplesPerSec,
      expertLoad: r.expertLoad ?? [], routerEntropy: adapter && (r.expertLoad?.length ?? 0) > 0 ? (r.routerEntropy ?? null) : null,
      predictions: r.predictions, finishedAt: new Date().toISOString(),
    });
  } finally {
    adapter?.detach();
    model.dispose();
  }
}

/** Run the CLI; returns the exit code (0, 1 or 2). */
export async function main(argv: readonly string[]): Promise<number> {
  let a: ParsedArgs;
  try {
    a = await parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`moegraph: error: ${e.message}\nRun 'moegraph --help' for the list of flags.\n`);
      return 2;
    }
    throw e;
  }
  if (a.help) {
    process.stdout.write(helpText(a.command === 'help' ? undefined : a.command) + '\n');
    return 0;
  }
  try {
    if (a.command === 'train') await runTrain(a);
    else await runEval(a);
    return 0;
  } catch (e) {
    process.stderr.write(`\nmoegraph ${a.command}: ${(e as Error).message}\n`);
    return 1;
  }
}

/** True when this module is the process's entry script (node dist/cli.js, the moegraph bin link). */
function isMain(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(resolve(arg)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`moegraph: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

export type { MethodName, TaskName };
