/** The moegraph CLI: help, usage errors (exit 2), and a short training run writing a results JSON. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FLAGS, helpText, parseCli, UsageError } from './cli.js';
import type { RunResult } from './types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli.js');
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout: 300_000 });

beforeAll(() => {
  // The CLI is tested as shipped: node dist/cli.js.
  execFileSync('npx', ['tsup'], { cwd: root, stdio: 'ignore' });
}, 300_000);

describe('moegraph --help', () => {
  it('lists every flag', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const f of FLAGS) expect(r.stdout).toContain(`--${f.name}`);
    expect(r.stdout).toContain('moegraph train');
    expect(r.stdout).toContain('moegraph eval');
    const t = run(['train', '--help']);
    expect(t.status).toBe(0);
    expect(t.stdout).toContain('--nan-policy');
    expect(helpText('eval')).toContain('--adapter');
  });
});

describe('usage errors exit with code 2', () => {
  const cases: [string[], RegExp][] = [
    [['train', '--bogus'], /Unknown option '--bogus'/],
    [['train', '--lr', 'fast'], /--lr: expected a number/],
    [['train', '--epochs', '1.5'], /--epochs: expected an integer/],
    [['train', '--method', 'nope'], /--method: expected one of lora/],
    [['train', '--model', '/no/such/model.gguf'], /--model: file or folder not found/],
    [['train', '--data', '/no/such/data.jsonl', '--template', 'x'], /--data: file or folder not found/],
    [['train', '--resume'], /--resume needs --checkpoint-dir/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['eval', '--method', 'lora'], /--method is not a flag of 'moegraph eval'/],
    [['train', '--options', '{not json'], /--options: not valid JSON/],
    [['train', '--option', 'nosuchkey=1'], /unknown key 'nosuchkey'/],
  ];
  for (const [args, msg] of cases) {
    it(args.join(' '), async () => {
      await expect(parseCli(args)).rejects.toBeInstanceOf(UsageError);
      await expect(parseCli(args)).rejects.toThrow(msg);
    });
  }
  it('through the real binary', () => {
    const r = run(['train', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/moegraph: error: .*--bogus/);
    const m = run(['train', '--model', '/no/such.gguf']);
    expect(m.status).toBe(2);
    expect(m.stderr).toContain('not found');
  });
});

describe('moegraph train / eval', () => {
  it('a short run writes a RunResult JSON, saves the adapter, and eval scores it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'moegraph-cli-'));
    const out = join(dir, 'results', 'run.json');
    const r = run([
      'train', '--task', 'boolq', '--method', 'mixlora', '--backend', 'cpu', '--seed', '3', '--epochs', '1', '--batch-size', '4',
      '--lr', '1e-3', '--cutoff', '40', '--r', '2', '--alpha', '4', '--num-experts', '4', '--top-k', '2', '--train-limit', '8',
      '--eval-limit', '4', '--option', 'balanceCoef=0.01', '--checkpoint-dir', join(dir, 'ck'), '--checkpoint-every', '1',
      '--save-adapter', join(dir, 'adapter'), '--out', out,
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8')) as RunResult;
    expect(res.config.method).toBe('mixlora');
    expect(res.config.options).toEqual({ balanceCoef: 0.01 });
    expect(res.steps).toBe(2);
    expect(res.trainExamples).toBe(8);
    expect(res.evalExamples).toBe(4);
    expect(res.lossCurve.length).toBe(2);
    expect(res.expertLoad.length).toBe(5);
    expect(existsSync(join(dir, 'ck', 'latest.json'))).toBe(true);
    expect(existsSync(join(dir, 'adapter', 'adapter_model.safetensors'))).toBe(true);

    const evalOut = join(dir, 'eval.json');
    const e = run(['eval', '--task', 'boolq', '--backend', 'cpu', '--adapter', join(dir, 'adapter'), '--eval-limit', '4', '--batch-size', '4', '--cutoff', '40', '--out', evalOut]);
    expect(e.status).toBe(0);
    const ev = JSON.parse(readFileSync(evalOut, 'utf8')) as { accuracy: number; evalExamples: number; expertLoad: unknown[] };
    expect(ev.evalExamples).toBe(4);
    expect(ev.accuracy).toBe(res.accuracy);
    expect(ev.expertLoad).toEqual(res.expertLoad);
  });
});
