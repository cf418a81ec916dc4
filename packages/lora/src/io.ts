/** Saving and loading adapters: adapter_model.safetensors + adapter_config.json, written atomically. */
import { fileSource, readSafetensors, readSafetensorsTensor, writeSafetensors, type LlamaModel } from '@moegraph/llm';
import { fingerprint, type Adapter, type AdapterConfigJSON } from './adapter.js';
import { attachLoRA } from './attach.js';
import { attachMoE, moeConfigFromJSON } from './moe/attach.js';

async function writeJSONAtomic(path: string, value: unknown): Promise<void> {
  const fs = await import('node:fs/promises');
  const tmp = `${path}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await fs.rename(tmp, path);
}

/** Write the adapter to `dir` (created if missing). */
export async function saveAdapter(adapter: Adapter, dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  await fs.mkdir(dir, { recursive: true });
  const tensors = await adapter.exportTensors();
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors.map((t) => ({ ...t, dtype: 'F32' as const })), { format: 'pt' });
  await writeJSONAtomic(join(dir, 'adapter_config.json'), adapter.config);
}

/** Registry of how each method re-attaches from its saved config; mixture methods add theirs. */
export const attachers: Record<string, (model: LlamaModel, cfg: AdapterConfigJSON) => Adapter> = {
  lora: (model, c) => attachLoRA(model, fromPeft(c, 'lora')),
  dora: (model, c) => attachLoRA(model, fromPeft(c, 'dora')),
  mixlora: (model, c) => attachMoE(model, moeConfigFromJSON(c)),
  mingmoe: (model, c) => attachMoE(model, moeConfigFromJSON(c)),
  loramoe: (model, c) => attachMoE(model, moeConfigFromJSON(c)),
  mola: (model, c) => attachMoE(model, moeConfigFromJSON(c)),
};

function fromPeft(c: AdapterConfigJSON, method: 'lora' | 'dora') {
  return {
    method,
    r: c.r,
    alpha: c.lora_alpha,
    dropout: c.lora_dropout,
    targets: c.target_modules,
    seed: c.moegraph.seed,
    doraNormGrad: !!c.moegraph.doraNormGrad,
    baseModelName: c.base_model_name_or_path ?? undefined,
  };
}

/** Attach a saved adapter to `model` and load its weights; errors name the file and what is wrong. */
export async function loadAdapter(model: LlamaModel, dir: string): Promise<Adapter> {
  const fs = await import('node:fs/promises');
  const { join } = await import('node:path');
  const cfgPath = join(dir, 'adapter_config.json');
  let cfg: AdapterConfigJSON;
  try {
    cfg = JSON.parse(await fs.readFile(cfgPath, 'utf8')) as AdapterConfigJSON;
  } catch (e) {
    throw new Error(`${cfgPath}: cannot read adapter config: ${(e as Error).message}`);
  }
  const method = cfg.moegraph?.method ?? (cfg.use_dora ? 'dora' : 'lora');
  const attach = attachers[method];
  if (!attach) throw new Error(`${cfgPath}: unknown adapter method '${method}'`);
  if (cfg.moegraph?.base) {
    const want = cfg.moegraph.base;
    const got = fingerprint(model);
    const diff = (Object.keys(want) as (keyof typeof want)[]).filter((k) => want[k] !== got[k]);
    if (diff.length) {
      throw new Error(`${cfgPath}: adapter was trained on a different model (${diff.map((k) => `${k} ${want[k]} vs ${got[k]}`).join(', ')})`);
    }
  }
  const file = join(dir, 'adapter_model.safetensors');
  const src = await fileSource(file);
  try {
    const st = await readSafetensors(src);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const info of st.tensors) tensors.set(info.name, { shape: info.shape, data: await readSafetensorsTensor(src, info, 'f32') });
    const adapter = attach(model, { ...cfg, moegraph: { ...cfg.moegraph, method } });
    try {
      adapter.importTensors(file, tensors);
    } catch (e) {
      adapter.detach();
      throw e;
    }
    return adapter;
  } finally {
    await src.close();
  }
}
