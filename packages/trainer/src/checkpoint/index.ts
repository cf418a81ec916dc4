/**
 * Training checkpoints, written atomically: everything goes into a temporary folder that is then
 * renamed to `step-NNNNNNNN`, and only after that rename does `latest.json` (itself replaced by a
 * rename) point at it. A reader therefore sees either the previous complete checkpoint or the new
 * complete one, never a half-written one, whenever the writing process dies.
 *
 * Layout of one checkpoint folder:
 *   adapter/                 saveAdapter output (adapter_model.safetensors + adapter_config.json)
 *   optimizer.bin            AdamW first moments then second moments, f32 little-endian
 *   state.json               CheckpointState (position, generator states, loss-module state, loss curve, config)
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AdamWState } from '@moegraph/tensor-webgpu';
import { fileSource, readSafetensors, readSafetensorsTensor } from '@moegraph/llm';
import { saveAdapter, type Adapter } from '@moegraph/lora';
import type { MethodLossState } from '../methods.js';
import type { RunConfig } from '../types.js';

export const CHECKPOINT_FORMAT = 1;

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** Completed optimizer steps. */
  step: number;
  /** Where training continues: this epoch, at this accumulation chunk (group of gradAccum batches). */
  epoch: number;
  nextChunk: number;
  /** State of the data-order generator at the start of `epoch` (before that epoch's shuffle). */
  dataGeneratorState: number;
  /** States of every adapter Generator (dropout / initialisation streams), in discovery order. */
  generators: number[];
  lossState: MethodLossState;
  /** Values of the loss modules' parameters (gmoe lambda / sigma), in order. */
  extraParams: number[][];
  optimizer: { step: number; numel: number };
  lossCurve: { step: number; loss: number }[];
  skippedSteps: number[];
  samplesSeen: number;
  tokensSeen: number;
  trainSeconds: number;
  config: RunConfig;
  savedAt: string;
}

export interface LoadedCheckpoint {
  path: string;
  state: CheckpointState;
  optimizer: AdamWState;
  adapterDir: string;
}

/** Write `data` to `path` through a temporary file and a rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

const stepName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** Write one checkpoint into `dir` and point latest.json at it; older checkpoints are removed. */
export async function writeCheckpoint(dir: string, adapter: Adapter, optimizer: AdamWState, state: CheckpointState): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = stepName(state.step);
  const tmp = join(dir, `.tmp-${name}-${process.pid}-${Date.now()}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await saveAdapter(adapter, join(tmp, 'adapter'));
    const n = optimizer.m.length;
    const bin = new Float32Array(2 * n);
    bin.set(optimizer.m, 0);
    bin.set(optimizer.v, n);
    await writeFile(join(tmp, 'optimizer.bin'), new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength));
    await writeFile(join(tmp, 'state.json'), JSON.stringify({ ...state, optimizer: { step: optimizer.step, numel: n } }, null, 1) + '\n');
    const final = join(dir, name);
    // A checkpoint of the same step (a resumed run re-saving) is replaced: move the old one aside first.
    if (existsSync(final)) await rename(final, `${tmp}.old`);
    await rename(tmp, final);
    await writeFileAtomic(join(dir, 'latest.json'), JSON.stringify({ checkpoint: name, step: state.step }) + '\n');
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  // Clean up: older step folders and leftovers of interrupted writes.
  for (const entry of await readdir(dir)) {
    if ((entry.startsWith('step-') && entry !== name) || entry.startsWith('.tmp-')) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return join(dir, name);
}

/** The newest complete checkpoint in `dir`, or null when there is none. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  if (!existsSync(dir)) return null;
  try {
    const latest = JSON.parse(await readFile(join(dir, 'latest.json'), 'utf8')) as { checkpoint?: string };
    if (latest.checkpoint && existsSync(join(dir, latest.checkpoint, 'state.json'))) return join(dir, latest.checkpoint);
  } catch {
    // fall through: pick the highest complete step folder
  }
  const steps = (await readdir(dir)).filter((e) => /^step-\d+$/.test(e) && existsSync(join(dir, e, 'state.json'))).sort();
  return steps.length ? join(dir, steps[steps.length - 1]!) : null;
}

/** Read a checkpoint folder (from latestCheckpoint). */
export async function readCheckpoint(path: string): Promise<LoadedCheckpoint> {
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as CheckpointState;
  } catch (e) {
    throw new Error(`${join(path, 'state.json')}: cannot read checkpoint state: ${(e as Error).message}`);
  }
  if (state.format !== CHECKPOINT_FORMAT) throw new Error(`${path}: checkpoint format ${String(state.format)} is not supported (expected ${CHECKPOINT_FORMAT})`);
  const buf = await readFile(join(path, 'optimizer.bin'));
  const n = state.optimizer.numel;
  if (buf.byteLength !== 8 * n) throw new Error(`${join(path, 'optimizer.bin')}: ${buf.byteLength} bytes, expected ${8 * n} (2 x ${n} f32 moments)`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return { path, state, optimizer: { step: state.optimizer.step, m: all.slice(0, n), v: all.slice(n) }, adapterDir: join(path, 'adapter') };
}

/** Overwrite the adapter's parameters with the tensors saved in `adapterDir` (same method and config). */
export async function restoreAdapterTensors(adapter: Adapter, adapterDir: string): Promise<void> {
  const file = join(adapterDir, 'adapter_model.safetensors');
  const src = await fileSource(file);
  try {
    const st = await readSafetensors(src);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const info of st.tensors) tensors.set(info.name, { shape: info.shape, data: await readSafetensorsTensor(src, info, 'f32') });
    adapter.importTensors(file, tensors);
  } finally {
    await src.close();
  }
}
