import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCli, runCli, CliError, planFromOptions } from './command.js';
import { loadProfiles } from './profiles.js';
import { fakeConfig, fakeResult } from './testing.js';
import type { RunConfig, TrainerApi } from './contract.js';

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-cli-'));
  const model = path.join(dir, 'stories260K.gguf');
  writeFileSync(model, 'gguf');
  const data = path.join(dir, 'commonsense');
  for (const t of ['arc-challenge', 'boolq', 'openbookqa', 'siqa']) mkdirSync(path.join(data, t), { recursive: true });
  return { dir, model, data, out: path.join(dir, 'out') };
}

function fakeTrainer(accuracy = (c: RunConfig) => 0.5 + c.seed / 20, speed = 10) {
  const calls: RunConfig[] = [];
  const trainer: TrainerApi = {
    defaultRunConfig: (p) => fakeConfig(p),
    runExperiment: async (cfg) => {
      calls.push(cfg);
      return fakeResult(cfg.method, cfg.task!, cfg.seed, accuracy(cfg), { config: cfg, trainSamplesPerSec: speed });
    },
  };
  return { trainer, calls };
}

const ref = async () => ({ kernel: 'k', backend: 'cpu', perSec: 100, gflops: 1, rounds: 1 });

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, log: (l: string) => out.push(l), error: (l: string) => err.push(l) };
}

describe('CLI parsing', () => {
  it('reads command, profile, lists and numbers', () => {
    const o = parseCli(['table', '--profile', 'full', '--methods', 'gmoe,mixlora', '--tasks', 'boolq', '--seeds', '3', '--out', 'x', '--train-limit', '0']);
    expect(o).toMatchObject({ command: 'table', profile: 'full', methods: ['gmoe', 'mixlora'], tasks: ['boolq'], seeds: [0, 1, 2], out: 'x', trainLimit: 0 });
    expect(parseCli(['ci']).profile).toBe('ci');
    expect(parseCli(['table']).profile).toBe('quick');
    expect(parseCli(['sweep', '--seeds', '1,4', '--axes', 'rank,topk'])).toMatchObject({ seeds: [1, 4], axes: ['rank', 'topk'] });
    expect(parseCli(['table', '--methods', 'all']).methods).toHaveLength(8);
    expect(parseCli(['block', '--steps', '2']).rest).toEqual(['--steps', '2']);
    expect(parseCli(['--help']).help).toBe(true);
  });

  it('rejects unknown commands, methods, flags and misplaced options', () => {
    expect(() => parseCli(['tabel'])).toThrow(CliError);
    expect(() => parseCli(['table', '--methods', 'gmoe,nope'])).toThrow(/unknown method 'nope'/);
    expect(() => parseCli(['table', '--tasks', 'mmlu'])).toThrow(/unknown task/);
    expect(() => parseCli(['table', '--bogus'])).toThrow(CliError);
    expect(() => parseCli(['table', '--seeds', 'x'])).toThrow(/--seeds/);
    expect(() => parseCli(['table', '--update-baseline'])).toThrow(/ci command/);
    expect(() => parseCli(['sweep', '--axes', 'width'])).toThrow(/unknown sweep axis/);
  });

  it('expands profiles from profiles.json, flags winning', () => {
    const profiles = loadProfiles();
    expect(profiles.quick!.methods).toEqual(['mixlora', 'gmoe', 'graphmoe']);
    expect(profiles.quick!.tasks.length).toBeGreaterThanOrEqual(2);
    expect(profiles.quick!.seeds).toBe(3);
    const p = planFromOptions(parseCli(['table', '--eval-limit', '50', '--backend', 'cpu']), profiles.quick!, { model: '/m', dataDir: '/d' });
    expect(p.runs).toHaveLength(3 * profiles.quick!.tasks.length * 3);
    expect(p.runs[0]!.partial).toMatchObject({ method: 'mixlora', seed: 0, evalLimit: 50, backend: 'cpu', model: '/m', dataDir: '/d' });
    const full = planFromOptions(parseCli(['table', '--profile', 'full']), profiles.full!, { model: '/m', dataDir: '/d' });
    expect(full.runs).toHaveLength(8 * 4 * 5);
    expect(full.runs[0]!.partial.trainLimit).toBeUndefined();
    const abl = planFromOptions(parseCli(['ablation', '--tasks', 'boolq', '--seeds', '1']), profiles.quick!, { model: '/m', dataDir: '/d' });
    expect(abl.runs.map((r) => r.id)).toEqual(['gmoe__boolq__seed0', 'gmoe-no-graph__boolq__seed0', 'gmoe-no-poisson__boolq__seed0', 'gmoe-no-normal__boolq__seed0']);
    expect(abl.runs[1]!.partial.options).toEqual({ router: 'linear' });
    const sw = planFromOptions(parseCli(['sweep', '--axes', 'experts,rounds', '--tasks', 'boolq', '--seeds', '1']), profiles.quick!, { model: '/m', dataDir: '/d' });
    expect(sw.runs.map((r) => r.partial.numExperts ?? r.partial.options?.rounds)).toEqual([4, 8, 12, 16, 32, 1, 2, 3, 4, 5]);
    expect(sw.runs[5]!.partial.method).toBe('graphmoe');
  });
});

describe('CLI commands (injected trainer)', () => {
  it('prints help', async () => {
    const c = capture();
    expect(await runCli(['--help'], c)).toBe(0);
    expect(c.out.join('\n')).toMatch(/Usage: node apps\/bench\/dist\/cli\.js <command>/);
  });

  it('says clearly when the model or data are missing', async () => {
    const c = capture();
    const code = await runCli(['table', '--out', path.join(tmpdir(), 'never')], { ...c, env: { MOEGRAPH_SHARED: '/nonexistent-shared' }, trainer: fakeTrainer().trainer });
    expect(code).toBe(2);
    expect(c.err.join('\n')).toMatch(/model not found: \/nonexistent-shared\/models\/stories260K\/stories260K\.gguf \(from MOEGRAPH_SHARED\)/);
    expect(c.err.join('\n')).toMatch(/data folder not found: .*--data-dir/);
  });

  it('table: runs, resumes, writes JSON/Markdown/HTML', async () => {
    const s = setup();
    const f = fakeTrainer();
    const args = ['table', '--methods', 'gmoe,mixlora', '--tasks', 'boolq,siqa', '--seeds', '2', '--out', s.out, '--model', s.model, '--data-dir', s.data];
    const c = capture();
    expect(await runCli(args, { ...c, trainer: f.trainer })).toBe(0);
    expect(f.calls).toHaveLength(8);
    // The quick profile's own subsample size (profiles.json), laid over the trainer's defaults.
    expect(f.calls[0]).toMatchObject({ model: s.model, dataDir: s.data, trainLimit: loadProfiles().quick!.config.trainLimit });
    for (const file of ['report.md', 'report.html', 'summary.json', 'plan.json', 'runs/gmoe__siqa__seed1.json']) expect(existsSync(path.join(s.out, file))).toBe(true);
    const md = readFileSync(path.join(s.out, 'report.md'), 'utf8');
    expect(md).toContain('| Method | BoolQ acc | SIQA acc | Avg. acc | BoolQ std | SIQA std | Avg. std |');
    expect(c.out.join('\n')).toContain('ran 8, skipped 0');
    const again = fakeTrainer();
    const c2 = capture();
    expect(await runCli(args, { ...c2, trainer: again.trainer })).toBe(0);
    expect(again.calls).toHaveLength(0);
    expect(c2.out.join('\n')).toContain('ran 0, skipped 8');
  });

  it('ci: --update-baseline, then pass, then fail on an accuracy or throughput drop', async () => {
    const s = setup();
    const base = path.join(s.dir, 'baseline.json');
    const common = ['--out', s.out, '--model', s.model, '--data-dir', s.data, '--baseline', base, '--force'];
    const c = capture();
    expect(await runCli(['ci', '--update-baseline', ...common], { ...c, trainer: fakeTrainer().trainer, referenceKernel: ref })).toBe(0);
    const b = JSON.parse(readFileSync(base, 'utf8'));
    expect(Object.keys(b.methods)).toEqual(['mixlora', 'gmoe', 'graphmoe']);
    expect(b.tolerance).toEqual({ accuracyTolerance: 0.05, throughputRatio: 0.5 });

    const ok = capture();
    expect(await runCli(['ci', ...common], { ...ok, trainer: fakeTrainer().trainer, referenceKernel: ref })).toBe(0);
    expect(ok.out.join('\n')).toContain('gate: PASS');

    const worse = capture();
    const drop = fakeTrainer((cfg) => (cfg.method === 'gmoe' ? 0.3 : 0.5 + cfg.seed / 20));
    expect(await runCli(['ci', ...common], { ...worse, trainer: drop.trainer, referenceKernel: ref })).toBe(1);
    expect(worse.out.join('\n')).toMatch(/FAIL: gmoe: accuracy/);

    const slow = capture();
    expect(await runCli(['ci', ...common], { ...slow, trainer: fakeTrainer(undefined, 4).trainer, referenceKernel: ref })).toBe(1);
    expect(slow.out.join('\n')).toMatch(/relative train throughput fell to 0\.400x/);
    // The same slowdown on a machine whose reference kernel is as much slower passes.
    const slowMachine = capture();
    const slowRef = async () => ({ ...(await ref()), perSec: 40 });
    expect(await runCli(['ci', ...common], { ...slowMachine, trainer: fakeTrainer(undefined, 4).trainer, referenceKernel: slowRef })).toBe(0);
  });
});
