import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hfRepoUrl, openHFModel } from './hf.js';
import { encodeSafetensors, type SafetensorsInput } from './safetensors.js';
import { serveDir, type TestServer } from './test-http.js';

const config = { architectures: ['LlamaForCausalLM'], hidden_size: 8, num_hidden_layers: 2, vocab_size: 4 };
const ramp = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => i * k);
const tensors: SafetensorsInput[] = [
  { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 8], data: ramp(32, 1) },
  { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'BF16', shape: [8, 8], data: ramp(64, 0.5) },
  { name: 'model.layers.1.self_attn.q_proj.weight', dtype: 'F16', shape: [8, 8], data: ramp(64, 0.25) },
  { name: 'model.norm.weight', dtype: 'F32', shape: [8], data: ramp(8, -1) },
];
const shard1 = 'model-00001-of-00002.safetensors';
const shard2 = 'model-00002-of-00002.safetensors';

let root: string;
function modelDir(kind: 'single' | 'sharded', name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE' } }));
  if (kind === 'single') {
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  } else {
    writeFileSync(join(dir, shard1), encodeSafetensors(tensors.slice(0, 2)));
    writeFileSync(join(dir, shard2), encodeSafetensors(tensors.slice(2)));
    const weight_map = Object.fromEntries(tensors.map((t, i) => [t.name, i < 2 ? shard1 : shard2]));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
  }
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'moegraph-hf-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function checkModel(dirOrUrl: string) {
  const m = await openHFModel(dirOrUrl);
  try {
    expect(m.config).toEqual(config);
    expect(m.tensorNames).toEqual(tensors.map((t) => t.name).sort());
    expect(m.has('model.norm.weight')).toBe(true);
    expect(m.info('model.layers.0.self_attn.q_proj.weight')).toMatchObject({ dtype: 'BF16', shape: [8, 8] });
    expect(Array.from(await m.read('model.embed_tokens.weight', 'f32'))).toEqual(Array.from(ramp(32, 1)));
    expect(Array.from(await m.read('model.layers.0.self_attn.q_proj.weight', 'f32'))).toEqual(Array.from(ramp(64, 0.5)));
    expect(Array.from(await m.read('model.layers.1.self_attn.q_proj.weight', 'f32'))).toEqual(Array.from(ramp(64, 0.25)));
    expect(Array.from(await m.read('model.norm.weight', 'f32'))).toEqual(Array.from(ramp(8, -1)));
    expect(await m.readJSON('tokenizer.json')).toEqual({ model: { type: 'BPE' } });
    await expect(m.readJSON('tokenizer_config.json')).rejects.toThrow(/tokenizer_config\.json: missing/);
    await expect(m.read('lm_head.weight', 'f32')).rejects.toThrow(/model has no tensor 'lm_head\.weight'/);
    return m;
  } finally {
    await m.close();
  }
}

describe('openHFModel (local folders)', () => {
  it('single model.safetensors', async () => {
    const m = await checkModel(modelDir('single', 'single'));
    expect(m.info('model.norm.weight').file).toBe('model.safetensors');
    await expect(m.read('model.norm.weight', 'f32')).rejects.toThrow(/model is closed/);
  });

  it('sharded via model.safetensors.index.json', async () => {
    const m = await checkModel(modelDir('sharded', 'sharded'));
    expect(m.info('model.embed_tokens.weight').file).toBe(shard1);
    expect(m.info('model.norm.weight').file).toBe(shard2);
  });

  it('missing config.json names the file', async () => {
    const dir = modelDir('single', 'noconfig');
    unlinkSync(join(dir, 'config.json'));
    await expect(openHFModel(dir)).rejects.toThrow(/config\.json: missing from model folder .*noconfig/);
  });

  it('missing weights name the files', async () => {
    const dir = modelDir('single', 'noweights');
    unlinkSync(join(dir, 'model.safetensors'));
    await expect(openHFModel(dir)).rejects.toThrow(/model\.safetensors: missing .*no model\.safetensors\.index\.json/);
  });

  it('missing shard names the shard', async () => {
    const dir = modelDir('sharded', 'noshard');
    unlinkSync(join(dir, shard2));
    await expect(openHFModel(dir)).rejects.toThrow(new RegExp(`${shard2}: shard listed in model\\.safetensors\\.index\\.json is missing`));
  });

  it('a tensor listed in the index but absent from its shard names both', async () => {
    const dir = modelDir('sharded', 'absent');
    writeFileSync(join(dir, shard2), encodeSafetensors(tensors.slice(2, 3))); // drop model.norm.weight
    await expect(openHFModel(dir)).rejects.toThrow(
      new RegExp(`${shard2}: tensor 'model\\.norm\\.weight' is listed in model\\.safetensors\\.index\\.json but absent from this shard`),
    );
  });

  it('rejects shard paths leaving the folder and malformed indexes', async () => {
    const dir = modelDir('sharded', 'evil');
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { w: '../secret.safetensors' } }));
    await expect(openHFModel(dir)).rejects.toThrow(/model\.safetensors\.index\.json: tensor 'w' maps to invalid shard/);
    writeFileSync(join(dir, 'model.safetensors.index.json'), '{ not json');
    await expect(openHFModel(dir)).rejects.toThrow(/model\.safetensors\.index\.json: not valid JSON/);
  });
});

describe('openHFModel over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    modelDir('sharded', 'remote');
    server = await serveDir(root, { ranges: true });
  });
  afterAll(() => server.close());

  it('reads a sharded model from a base URL with range requests, opening each shard once', async () => {
    await checkModel(`${server.url}/remote`);
    const probes = server.requests.filter((r) => r.range === 'bytes=0-0').map((r) => r.path);
    expect(probes.filter((p) => p.endsWith(shard1)).length).toBe(1);
    expect(probes.filter((p) => p.endsWith(shard2)).length).toBe(1);
    expect(server.requests.some((r) => r.path === '/remote/model.safetensors')).toBe(true); // probed, 404
  });

  it('missing config.json over HTTP', async () => {
    await expect(openHFModel(`${server.url}/nothing-here`)).rejects.toThrow(/config\.json: missing from model folder/);
  });

  it('hfRepoUrl', () => {
    expect(hfRepoUrl('org/model', 'main', 'https://hf.example')).toBe('https://hf.example/org/model/resolve/main');
  });
});
