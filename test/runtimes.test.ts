/**
 * Cross-runtime smoke tests: the built @moegraph/tensor-webgpu and @moegraph/llm under Deno and Bun, each run as a
 * child process from the npm-installed binaries (devDependencies `deno`, `bun`, `bun-webgpu`).
 *
 * For each runtime:
 *  1. smoke/adapter.mjs probes WebGPU without our package (Deno: built-in navigator.gpu; Bun:
 *     bun-webgpu). Its answer is what we expect of our runtime's init('auto').
 *  2. smoke/train.ts with init('auto') must train (loss falls) and run on webgpu iff the probe
 *     found a working adapter.
 *  3. smoke/golden.ts: stories260K's greedy text through the built @moegraph/llm.
 *  4. smoke/threads.ts: the cpu backend's worker pool runs tasks in workers, bit-identical to 1 thread.
 *  5. smoke/train.ts forced to cpu must train too.
 * MOEGRAPH_REQUIRE_WEBGPU=1 (CI sets it) makes a missing adapter a failure instead of a skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
// MOEGRAPH_SMOKE_MODULE (read by smoke/train.ts) points at another build, for debugging.
const dist = process.env.MOEGRAPH_SMOKE_MODULE || path.join(root, 'packages', 'tensor-webgpu', 'dist', 'index.js');
const requireWebGPU = process.env.MOEGRAPH_REQUIRE_WEBGPU === '1';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'moegraph-runtimes-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  report: Record<string, any> | null;
}

function bin(name: string): string {
  return path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
}

function run(runtime: 'deno' | 'bun', script: string, extraEnv: Record<string, string> = {}): Run {
  const args = runtime === 'deno' ? ['run', '-A', '--no-lock', script] : [script];
  const res = spawnSync(bin(runtime), args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
    env: {
      ...process.env,
      // Keep Deno's cache out of the home directory; silence update checks and colors.
      DENO_DIR: path.join(tmp, 'deno'),
      DENO_NO_UPDATE_CHECK: '1',
      BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0',
      NO_COLOR: '1',
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || tmp,
      ...extraEnv,
    },
  });
  const stdout = res.stdout ?? '';
  const tag = script.endsWith('adapter.mjs') ? 'ADAPTER ' : script.endsWith('golden.ts') ? 'GOLDEN ' : 'SMOKE ';
  const line = stdout.split('\n').reverse().find((l) => l.startsWith(tag));
  let report: Record<string, any> | null = null;
  if (line) {
    try { report = JSON.parse(line.slice(tag.length)); } catch { report = null; }
  }
  return { code: res.status, stdout, stderr: (res.stderr ?? '') + (res.error ? `\n${res.error.message}` : ''), report };
}

function explain(r: Run): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

for (const runtime of ['deno', 'bun'] as const) {
  describe(runtime, () => {
    let adapterOk = false;

    it(`${runtime} is installed from npm`, () => {
      const r = spawnSync(bin(runtime), ['--version'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${bin(runtime)} --version: ${r.stderr}`).toBe(0);
      console.log(`${runtime} --version: ${r.stdout.trim().split('\n')[0]}`);
    });

    it(`probes WebGPU under ${runtime} without our package`, () => {
      const r = run(runtime, 'test/smoke/adapter.mjs');
      expect(r.report, explain(r)).not.toBeNull();
      adapterOk = r.report!.ok === true;
      console.log(r.stdout.split('\n')[0]);
      if (requireWebGPU) expect(adapterOk, `MOEGRAPH_REQUIRE_WEBGPU=1 but ${runtime} has no working adapter\n${explain(r)}`).toBe(true);
    });

    it(`trains with init('auto') under ${runtime} (webgpu where an adapter exists)`, () => {
      expect(existsSync(dist), `${dist} missing: npm run build -w @moegraph/tensor-webgpu`).toBe(true);
      const r = run(runtime, 'test/smoke/train.ts');
      expect(r.report, explain(r)).not.toBeNull();
      console.log(r.stdout.split('\n').find((l) => l.startsWith(runtime)) ?? r.stdout);
      expect(r.report!.error, explain(r)).toBeUndefined();
      expect(r.report!.ok, explain(r)).toBe(true);
      expect(r.code, explain(r)).toBe(0);
      expect(r.report!.leakedTensors, 'tensors leaked per training step').toBeLessThanOrEqual(0);
      if (adapterOk || r.report!.adapterAvailable) expect(r.report!.backend, `an adapter exists under ${runtime} but init('auto') chose ${r.report!.backend}`).toBe('webgpu');
      if (requireWebGPU) expect(r.report!.backend).toBe('webgpu');
    });

    it(`reproduces the stories260K golden greedy text under ${runtime} with @moegraph/llm`, () => {
      const r = run(runtime, 'test/smoke/golden.ts');
      expect(r.report, explain(r)).not.toBeNull();
      expect(r.report!.error, explain(r)).toBeUndefined();
      expect(r.report!.ok, `${runtime} generated: ${r.report!.text}`).toBe(true);
      if (requireWebGPU) expect(r.report!.backend).toBe('webgpu');
      console.log(`${runtime}: golden text on ${r.report!.backend}`);
    });

    it(`runs the cpu backend's worker threads under ${runtime}: bit-identical to 1 thread, tasks ran in workers`, () => {
      expect(existsSync(dist), `${dist} missing: npm run build -w @moegraph/tensor-webgpu`).toBe(true);
      const r = run(runtime, 'test/smoke/threads.ts');
      expect(r.report, explain(r)).not.toBeNull();
      expect(r.report!.error, explain(r)).toBeUndefined();
      expect(r.report!.identical, explain(r)).toBe(true);
      expect(r.report!.workerTasks, `no task ran in a worker under ${runtime}\n${explain(r)}`).toBeGreaterThan(0);
      expect(r.code, explain(r)).toBe(0);
      console.log(`${runtime}: ${r.report!.workerTasks} tasks ran in worker threads`);
    });

    it(`trains on cpu under ${runtime}`, () => {
      expect(existsSync(dist), `${dist} missing: npm run build -w @moegraph/tensor-webgpu`).toBe(true);
      const r = run(runtime, 'test/smoke/train.ts', { MOEGRAPH_SMOKE_BACKEND: 'cpu' });
      expect(r.report, explain(r)).not.toBeNull();
      expect(r.report!.error, explain(r)).toBeUndefined();
      expect(r.report!.backend).toBe('cpu');
      expect(r.report!.ok, explain(r)).toBe(true);
      expect(r.code, explain(r)).toBe(0);
    });
  });
}
