import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PerfUsageError, ROW, evaluateTargets, formatTables, formatTargets, parsePerfArgs, type Row } from './perf.js';
import { blasWarnings, childJson, runPerf, workerValues } from './perf-run.js';
import { runCli } from './command.js';

const ok = (name: string, values: Record<string, number>, kind: Row['kind'] = 'ours'): Row => ({ name, kind, status: 'ok', values });

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, log: (l: string) => out.push(l), error: (l: string) => err.push(l), text: () => out.join('\n') };
}

describe('perf arguments', () => {
  it('defaults, quick and explicit values', () => {
    const d = parsePerfArgs([], {});
    expect(d).toMatchObject({ quick: false, backends: ['cpu', 'webgpu'], peers: true, python: '/usr/bin/python3', steps: 5, lmSteps: 3, repeats: 5, tokens: 1024 });
    expect(d.workloads).toEqual(['matmul', 'dispatch', 'block', 'stories', 'llama']);
    expect(parsePerfArgs(['--quick'], {})).toMatchObject({ steps: 2, lmSteps: 1, repeats: 3 });
    const o = parsePerfArgs(['--backends', 'cpu', '--workloads', 'block,matmul', '--no-peers', '--steps', '7', '--json', 'x.json'], { MOEGRAPH_PYTHON: '/opt/py' });
    expect(o).toMatchObject({ backends: ['cpu'], workloads: ['block', 'matmul'], peers: false, steps: 7, json: 'x.json', python: '/opt/py' });
    expect(parsePerfArgs(['--python', '/p'], { MOEGRAPH_PYTHON: '/opt/py' }).python).toBe('/p');
  });

  it('rejects unknown flags, backend names, workloads and bad counts with clear messages', () => {
    expect(() => parsePerfArgs(['--fast'], {})).toThrow(PerfUsageError);
    expect(() => parsePerfArgs(['--fast'], {})).toThrow(/--fast/);
    expect(() => parsePerfArgs(['--backends', 'cpu,cuda'], {})).toThrow("--backends: unknown name 'cuda' (expected cpu, webgpu)");
    expect(() => parsePerfArgs(['--workloads', 'gemm'], {})).toThrow(/--workloads: unknown name 'gemm'/);
    expect(() => parsePerfArgs(['--steps', '0'], {})).toThrow("--steps: expected an integer >= 1, got '0'");
    expect(() => parsePerfArgs(['--repeats', '1.5'], {})).toThrow(/--repeats/);
  });

  it('runCli reports a usage error with exit code 2 and prints perf --help', async () => {
    const c = capture();
    expect(await runCli(['perf', '--backends', 'tpu'], c)).toBe(2);
    expect(c.err.join('\n')).toMatch(/unknown name 'tpu'.*\n.*perf --help/);
    const h = capture();
    expect(await runCli(['perf', '--help'], h)).toBe(0);
    expect(h.text()).toMatch(/Usage: node apps\/bench\/dist\/cli.js perf/);
    const top = capture();
    await runCli(['--help'], top);
    expect(top.text()).toMatch(/\n {2}perf {7}/);
  });
});

describe('perf targets', () => {
  const rows: Row[] = [
    ok(ROW.cpu1, { 'matmul 1024x1024x1024': 25, 'block linear': 120, 'block gcn': 300, 'block gru': 400 }),
    ok(ROW.webgpu, { 'block linear': 600, 'block gcn': 1000, 'block gru': 2400, 'dispatch us': 24 }),
    ok(ROW.torch1, { 'block linear': 60, 'block gcn': 200, 'block gru': 100, 'matmul 1024x1024x1024': 80 }, 'peer'),
    ok(ROW.blas1, { 'matmul 1024x1024x1024': 90 }, 'peer'),
  ];

  it('computes ratios and PASS/FAIL against hand-computed values', () => {
    const t = evaluateTargets(rows);
    const get = (prefix: string, row: string) => t.find((x) => x.target.startsWith(prefix) && x.row === row)!;
    // 25 / 90 = 0.2778 >= 0.25
    expect(get('cpu matmul', ROW.cpu1)).toMatchObject({ status: 'PASS', op: '>=', limit: 0.25 });
    expect(get('cpu matmul', ROW.cpu1).ratio).toBeCloseTo(25 / 90, 10);
    // 120 / 60 = 2 <= 3, aim 1.5 not met
    expect(get('cpu block step', ROW.cpu1)).toMatchObject({ ratio: 2, status: 'PASS', detail: '120 vs 60.0; aim 1.5x not met' });
    // 300 / 120 = 2.5 > 2
    expect(get('GCN step', ROW.cpu1)).toMatchObject({ ratio: 2.5, status: 'FAIL' });
    // webgpu: 600/60 = 10 PASS, 1000/200 = 5 PASS, 2400/100 = 24 FAIL; dispatch 24 us PASS
    expect(get('webgpu block step (linear)', ROW.webgpu)).toMatchObject({ ratio: 10, status: 'PASS' });
    expect(get('webgpu block step (gcn)', ROW.webgpu)).toMatchObject({ ratio: 5, status: 'PASS' });
    expect(get('webgpu block step (gru)', ROW.webgpu)).toMatchObject({ ratio: 24, status: 'FAIL' });
    expect(get('webgpu per-dispatch', ROW.webgpu)).toMatchObject({ ratio: 24, status: 'PASS', detail: '24.0' });
    // rows not run (cpu default threads) produce no lines
    expect(t.filter((x) => x.row === ROW.cpu)).toEqual([]);
    expect(t).toHaveLength(7);
  });

  it('is n/a, not PASS or FAIL, when the peer is not installed', () => {
    const missing: Row[] = [rows[0]!, { name: ROW.torch1, kind: 'peer', status: 'not installed', note: 'no Python', values: {} }];
    const t = evaluateTargets(missing);
    expect(t.find((x) => x.target.startsWith('cpu block'))).toMatchObject({ status: 'n/a', ratio: null, detail: 'pytorch (1 thread): not installed' });
    expect(t.find((x) => x.target.startsWith('cpu matmul'))).toMatchObject({ status: 'n/a', detail: 'openblas (1 thread): not run' });
    expect(t.find((x) => x.target.startsWith('GCN'))).toMatchObject({ status: 'FAIL', ratio: 2.5 });
  });

  it('formats the targets table', () => {
    const t = evaluateTargets(rows).filter((x) => x.target.startsWith('GCN') || x.target.includes('dispatch'));
    expect(formatTargets(t)).toBe([
      '| target | row | measured | limit | status | detail |',
      '|---|---|---:|---:|---|---|',
      '| GCN step <= 2x linear step (ours) | cpu (1 thread) | 2.50x | <= 2x | FAIL | 300 vs 120 |',
      '| webgpu per-dispatch overhead <= 30 us | webgpu | 24.0 us | <= 30 us | PASS | 24.0 |',
    ].join('\n'));
  });
});

describe('perf tables', () => {
  it('one table per workload with values and ratios to PyTorch 1 thread', () => {
    const rows: Row[] = [
      ok(ROW.cpu1, { 'block linear': 120, 'block gcn': 300, 'block gru': 400 }),
      { name: ROW.cpu, kind: 'ours', status: 'skipped', note: 'x', values: {} },
      ok(ROW.torch1, { 'block linear': 60, 'block gcn': 200, 'block gru': 100 }, 'peer'),
      { name: ROW.torch2, kind: 'peer', status: 'not installed', note: 'no torch', values: {} },
    ];
    expect(formatTables(rows, ['matmul', 'block'])).toBe([
      '### MoE FFN block training step, ms/step (lower is better)',
      '',
      '| row | linear | x pytorch | GCN | x pytorch | GRU (3 rounds) | x pytorch |',
      '|---|---:|---:|---:|---:|---:|---:|',
      '| cpu (1 thread) | 120 | 2.00x | 300 | 1.50x | 400 | 4.00x |',
      '| pytorch (1 thread) | 60.0 | 1.00x | 200 | 1.00x | 100 | 1.00x |',
      '| pytorch (2 threads) | not installed: no torch | | | | | |',
      '',
    ].join('\n'));
  });

  it('marks a failed figure and a missing reference', () => {
    const rows: Row[] = [{ name: ROW.webgpu, kind: 'ours', status: 'ok', values: { 'train stories260K/mixlora': 500 }, errors: { 'train stories260K/gmoe': 'boom' } }];
    expect(formatTables(rows, ['stories'])).toContain('| webgpu | 500 | - | failed | - |');
  });
});

describe('perf children', () => {
  it('maps worker JSON to figure keys (dispatch in us)', () => {
    const j = { results: { matmul: { '1024x1024x1024': 20 }, dispatch_ms: 0.025, block: { linear: 100 }, train: { 'stories260K/gmoe': 300 } }, errors: { dispatch: 'x' } };
    expect(workerValues(j)).toEqual({
      values: { 'matmul 1024x1024x1024': 20, 'dispatch us': 25, 'block linear': 100, 'train stories260K/gmoe': 300 },
      errors: { 'dispatch us': 'x' },
    });
  });

  it('reads the last JSON line or says why there is none', () => {
    expect(childJson({ status: 0, stdout: 'noise\n{"a":1}\n', stderr: '' }, 'w').json).toEqual({ a: 1 });
    expect(childJson({ status: 1, stdout: '', stderr: 'Traceback\nImportError: torch\n' }, 'w').error).toBe('w exited 1: ImportError: torch');
    expect(childJson({ status: null, stdout: '', stderr: '', error: new Error('spawnSync ETIMEDOUT') }, 'w').error).toBe('w: spawnSync ETIMEDOUT');
  });

  it('warns about a generic BLAS', () => {
    expect(blasWarnings(['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3', '/x/libopenblasp-r0.3.21.so'], 85)).toEqual([]);
    const w = blasWarnings(['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'], 4.2);
    expect(w[0]).toMatch(/libblas.so.3: not OpenBLAS/);
    expect(w[1]).toMatch(/4.2 GFLOP\/s \(< 10\).*libopenblas0-pthread/);
  });

  it('reports PyTorch and OpenBLAS as "not installed" when the Python does not exist (cpu dispatch and matmul in a real child)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-perf-'));
    const json = path.join(dir, 'perf.json');
    const c = capture();
    const code = await runPerf(['--backends', 'cpu', '--workloads', 'dispatch,matmul', '--repeats', '1', '--python', '/nonexistent/python3', '--json', json], c);
    expect(code).toBe(0);
    const text = c.text();
    expect(text).toMatch(/- pytorch \(1 thread\): not installed \(no Python at \/nonexistent\/python3 \(ENOENT\)/);
    expect(text).toMatch(/\| openblas \(1 thread\) \| not installed: no Python/);
    expect(text).toMatch(/\| cpu \(1 thread\) \| \d/);
    expect(text).toMatch(/cpu matmul 1024\^3 >= 0.25x OpenBLAS 1 thread \| cpu \(1 thread\) \| n\/a \| >= 0.25x \| n\/a \| openblas \(1 thread\): not installed/);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    expect(doc.rows.find((r: Row) => r.name === ROW.torch2).status).toBe('not installed');
    expect(doc.rows.find((r: Row) => r.name === ROW.cpu1).values['dispatch us']).toBeGreaterThan(0);
  }, 60_000);

  it('--cuda adds a PyTorch CUDA row whose peers run with --device cuda, or "not installed" when torch sees no GPU', async () => {
    const calls: string[][] = [];
    const spawn = (gpu: string) => (cmd: string, args: string[]) => {
      calls.push([cmd, ...args]);
      const script = path.basename(args[0] ?? '');
      const json = (o: unknown) => ({ status: 0, stdout: `${JSON.stringify(o)}\n`, stderr: '' });
      if (args[0] === '-c') return { status: 0, stdout: `2.11.0\n${gpu}\n`, stderr: '' };
      if (script === 'perf-worker.mjs') return json({ impl: 'webgpu', results: { block: { linear: 9, gcn: 11, gru: 20 } }, errors: {} });
      if (script === 'moe_block.py') return json(args.includes('cuda') ? { linear: 16, gcn: 12, gru: 45 } : { linear: 140, gcn: 440, gru: 570 });
      return { status: 1, stdout: '', stderr: `unexpected ${script}` };
    };
    const c = capture();
    expect(await runPerf(['--backends', 'webgpu', '--workloads', 'block', '--cuda'], { ...c, spawn: spawn('NVIDIA H100 80GB HBM3') })).toBe(0);
    const cuda = calls.filter((a) => a.includes('--device'));
    expect(cuda).toHaveLength(1);
    expect(cuda[0]).toEqual(expect.arrayContaining(['--device', 'cuda', '--threads', '1']));
    expect(c.text()).toMatch(/- pytorch \(cuda\): ok \(torch 2.11.0, NVIDIA H100 80GB HBM3\)/);
    expect(c.text()).toMatch(/\| pytorch \(cuda\) \| 16\.0 \| 0\.11x \| 12\.0 \|/);

    calls.length = 0;
    const d = capture();
    expect(await runPerf(['--backends', 'webgpu', '--workloads', 'block', '--cuda'], { ...d, spawn: spawn('False') })).toBe(0);
    expect(calls.some((a) => a.includes('--device'))).toBe(false);
    expect(d.text()).toMatch(/- pytorch \(cuda\): not installed \(torch 2.11.0 sees no CUDA GPU\)/);
  });
});
