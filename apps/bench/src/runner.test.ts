import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from './plan.js';
import { configHash, estimateRemaining, loadResults, resultPath, runPlan, writeFileAtomic } from './runner.js';
import { fakeConfig, fakeResult } from './testing.js';
import type { RunConfig } from './contract.js';

const plan = (trainLimit = 64) =>
  buildPlan({ suite: 'table', profile: 'test', methods: ['gmoe', 'mixlora'], tasks: ['boolq'], seeds: [0, 1], base: { model: '/m/stories260K.gguf', trainLimit } });

function fakeDeps(failIds: string[] = []) {
  const calls: RunConfig[] = [];
  const lines: string[] = [];
  let t = 0;
  return {
    calls,
    lines,
    deps: {
      makeConfig: (p: Partial<RunConfig>) => fakeConfig(p),
      run: async (cfg: RunConfig) => {
        calls.push(cfg);
        t += 2000; // every run "takes" 2 s on the injected clock
        if (failIds.includes(`${cfg.method}__${cfg.task}__seed${cfg.seed}`)) throw new Error('boom');
        return fakeResult(cfg.method, cfg.task!, cfg.seed, 0.5 + cfg.seed / 10, { config: cfg });
      },
      log: (l: string) => lines.push(l),
      now: () => t,
    },
  };
}

describe('runner', () => {
  it('runs every planned run once and writes one JSON per run', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'bench-runner-'));
    const f = fakeDeps();
    const s = await runPlan(plan(), out, f.deps);
    expect(f.calls).toHaveLength(4);
    expect(s.ran).toEqual(['gmoe__boolq__seed0', 'gmoe__boolq__seed1', 'mixlora__boolq__seed0', 'mixlora__boolq__seed1']);
    expect(readdirSync(path.join(out, 'runs')).sort()).toEqual(s.ran.map((id) => `${id}.json`).sort()); // no temp files left
    const stored = JSON.parse(readFileSync(resultPath(out, 'gmoe__boolq__seed1'), 'utf8'));
    expect(stored.accuracy).toBeCloseTo(0.6);
    expect(stored.bench).toMatchObject({ variant: 'gmoe', task: 'boolq', seed: 1, suite: 'table', wallSeconds: 2 });
    expect(f.lines.some((l) => /\[2\/4\].*ETA 4s/.test(l))).toBe(true); // 2 runs left x 2 s
  });

  it('skips finished runs on a second invocation (resume) and reruns failed ones', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'bench-runner-'));
    const first = fakeDeps(['mixlora__boolq__seed0']);
    const s1 = await runPlan(plan(), out, first.deps);
    expect(s1.failed.map((x) => x.id)).toEqual(['mixlora__boolq__seed0']);
    expect(s1.ran).toHaveLength(3);
    expect(readdirSync(path.join(out, 'runs'))).toContain('mixlora__boolq__seed0.error.txt');

    const second = fakeDeps();
    const s2 = await runPlan(plan(), out, second.deps);
    expect(second.calls.map((c) => `${c.method}/${c.seed}`)).toEqual(['mixlora/0']);
    expect(s2.skipped).toHaveLength(3);
    expect(s2.results.map((r) => r.bench.id)).toEqual(plan().runs.map((r) => r.id)); // plan order
    expect(second.lines[0]).toMatch(/resume: 3 of 4 runs already finished/);
    expect(readdirSync(path.join(out, 'runs'))).not.toContain('mixlora__boolq__seed0.error.txt');

    const third = fakeDeps();
    const s3 = await runPlan(plan(), out, third.deps);
    expect(third.calls).toHaveLength(0);
    expect(s3.skipped).toHaveLength(4);

    const forced = fakeDeps();
    await runPlan(plan(), out, forced.deps, { force: true });
    expect(forced.calls).toHaveLength(4);
  });

  it('reruns a run whose configuration changed or whose file is corrupt', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'bench-runner-'));
    await runPlan(plan(), out, fakeDeps().deps);
    writeFileSync(resultPath(out, 'gmoe__boolq__seed0'), '{"accuracy": 0.5, "bench": {'); // cut short
    const again = fakeDeps();
    await runPlan(plan(), out, again.deps);
    expect(again.calls.map((c) => `${c.method}/${c.seed}`)).toEqual(['gmoe/0']);
    const changed = fakeDeps();
    await runPlan(plan(128), out, changed.deps);
    expect(changed.calls).toHaveLength(4);
    expect(changed.lines.some((l) => l.includes('configuration changed'))).toBe(true);
    expect(loadResults(out)).toHaveLength(4);
  });

  it('hash ignores machine-local paths but not settings', () => {
    const a = fakeConfig({ model: '/a/stories260K.gguf', dataDir: '/a/data' });
    expect(configHash(a)).toBe(configHash(fakeConfig({ model: '/b/stories260K.gguf', dataDir: '/b/data' })));
    expect(configHash(a)).not.toBe(configHash({ ...a, lr: 2e-3 }));
    expect(configHash({ ...a, options: { x: 1, y: 2 } })).toBe(configHash({ ...a, options: { y: 2, x: 1 } }));
  });

  it('writes atomically: the target is replaced whole', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-atomic-'));
    const f = path.join(dir, 'sub', 'x.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(readdirSync(path.dirname(f))).toEqual(['x.json']);
  });

  it('estimates the time left per task', () => {
    const done = [{ task: 'boolq', seconds: 10 }, { task: 'siqa', seconds: 30 }];
    expect(estimateRemaining(done, [{ task: 'boolq' }, { task: 'siqa' }, { task: 'arc-challenge' }])).toBe(10 + 30 + 20);
    expect(estimateRemaining([], [{ task: 'boolq' }])).toBeNaN();
    expect(estimateRemaining(done, [])).toBe(0);
  });
});
