/**
 * Runtime-agnostic golden test of the built @moegraph/llm: stories260K (from ../shared, or
 * MOEGRAPH_SHARED) decoded greedily from "Once upon a time" must reproduce the known text, on the
 * backend init('auto') picks (WebGPU under Deno and Bun here).
 *   deno run -A test/smoke/golden.ts      bun test/smoke/golden.ts
 * Last line of stdout: `GOLDEN {json}`; exit code 0 iff the text matches.
 */
// @ts-nocheck -- runs under Deno and Bun, whose globals differ; the imports are the built JS.
const g = globalThis as any;
const env = (k: string): string | undefined => (g.Deno ? g.Deno.env.get(k) : g.process?.env?.[k]);
const exit = (code: number): never => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
const GOLDEN =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ' +
  'One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

const report: Record<string, unknown> = { runtime: g.Deno ? `deno ${g.Deno.version.deno}` : `bun ${g.Bun?.version}` };
try {
  const mg = await import(new URL('../../packages/tensor-webgpu/dist/index.js', import.meta.url).href);
  const llm = await import(new URL('../../packages/llm/dist/index.js', import.meta.url).href);
  const shared = env('MOEGRAPH_SHARED') ?? new URL('../../../shared', import.meta.url).pathname;
  const backend = await mg.init({ backend: (env('MOEGRAPH_SMOKE_BACKEND') as 'cpu' | 'webgpu' | undefined) ?? 'auto' });
  report.backend = backend.name;
  const { model, tokenizer } = await llm.loadGGUF(`${shared}/models/stories260K/stories260K.gguf`, { backend });
  const prompt = tokenizer.encode('Once upon a time', { addBos: true });
  const ids = await model.generateGreedy(prompt, 60);
  const text = tokenizer.decode([...prompt, ...ids]).replace(/\s+/g, ' ').trim();
  report.text = text;
  report.ok = text.startsWith(GOLDEN);
} catch (e) {
  report.error = String((e as Error)?.stack ?? e);
}
console.log(`GOLDEN ${JSON.stringify(report)}`);
exit(report.ok ? 0 : 1);
