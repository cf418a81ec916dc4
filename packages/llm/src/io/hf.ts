/**
 * A Hugging Face model folder (local directory or base URL such as
 * `https://huggingface.co/<repo>/resolve/main`): `config.json` plus either `model.safetensors`
 * or a sharded `model.safetensors.index.json` whose `weight_map` names each tensor's shard.
 */
import { hfAuthHeaders, isUrl, openSource, readAll, SourceNotFoundError, type ByteSource, type HttpSourceOptions } from './source.js';
import { readSafetensors, readSafetensorsTensor, type SafetensorsTensorInfo, type SafetensorsWant } from './safetensors.js';

export interface HFTensorInfo extends SafetensorsTensorInfo {
  /** The safetensors file holding the tensor, relative to the model folder. */
  file: string;
}

export interface HFModel {
  /** Parsed config.json. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  config: any;
  tensorNames: string[];
  has(name: string): boolean;
  info(name: string): HFTensorInfo;
  read(name: string, want: 'f32'): Promise<Float32Array>;
  read(name: string, want: 'f16'): Promise<Uint16Array>;
  read(name: string, want: 'i32'): Promise<Int32Array>;
  read(name: string, want: 'f32' | 'f16'): Promise<Float32Array | Uint16Array>;
  read(name: string, want: SafetensorsWant): Promise<Float32Array | Uint16Array | Int32Array>;
  /** Parses another JSON file of the folder (tokenizer.json, ...); rejects naming it when missing. */
  readJSON(file: string): Promise<unknown>;
  close(): Promise<void>;
}

export type HFModelOptions = Pick<HttpSourceOptions, 'headers' | 'fetch' | 'fullDownloadFallback'>;

const INDEX = 'model.safetensors.index.json';
const SINGLE = 'model.safetensors';

/** Base URL of a hub repository at a revision, for openHFModel. */
export function hfRepoUrl(repo: string, revision = 'main', endpoint?: string): string {
  const ep = endpoint ?? (typeof process !== 'undefined' ? process.env?.HF_ENDPOINT : undefined) ?? 'https://huggingface.co';
  return `${ep.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}`;
}

function joinPath(base: string, file: string): string {
  return `${base.replace(/[\\/]+$/, '')}/${file}`;
}

/** Opens `file` in the folder, or returns undefined when it does not exist. */
async function tryOpen(base: string, file: string, opts: HttpSourceOptions): Promise<ByteSource | undefined> {
  try {
    return await openSource(joinPath(base, file), { ...opts, name: file });
  } catch (e) {
    if (e instanceof SourceNotFoundError) return undefined;
    throw e;
  }
}

async function readJson(src: ByteSource): Promise<unknown> {
  try {
    return JSON.parse(new TextDecoder().decode(await readAll(src)));
  } catch (e) {
    throw new Error(`${src.name}: not valid JSON (${(e as Error).message})`);
  } finally {
    await src.close();
  }
}

export async function openHFModel(dirOrUrl: string, opts: HFModelOptions = {}): Promise<HFModel> {
  const sourceOpts: HttpSourceOptions = { ...opts };
  if (isUrl(dirOrUrl) && !opts.headers) sourceOpts.headers = hfAuthHeaders();

  const configSrc = await tryOpen(dirOrUrl, 'config.json', sourceOpts);
  if (!configSrc) throw new Error(`config.json: missing from model folder ${dirOrUrl}`);
  const config = await readJson(configSrc);
  if (typeof config !== 'object' || config === null) throw new Error(`config.json: not a JSON object (${dirOrUrl})`);

  // name -> shard file, and the shard files in first-seen order.
  let weightMap: Map<string, string> | undefined;
  const shards = new Map<string, ByteSource>();
  try {
    const single = await tryOpen(dirOrUrl, SINGLE, sourceOpts);
    if (single) {
      shards.set(SINGLE, single);
    } else {
      const indexSrc = await tryOpen(dirOrUrl, INDEX, sourceOpts);
      if (!indexSrc) throw new Error(`${SINGLE}: missing from model folder ${dirOrUrl} (and no ${INDEX} either)`);
      const index = (await readJson(indexSrc)) as { weight_map?: unknown };
      const wm = index?.weight_map;
      if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new Error(`${INDEX}: has no 'weight_map' object`);
      weightMap = new Map();
      for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
        // Shards are plain file names inside the folder: never follow paths out of it.
        if (typeof file !== 'string' || file === '' || file.startsWith('/') || file.split(/[\\/]/).includes('..')) {
          throw new Error(`${INDEX}: tensor '${name}' maps to invalid shard ${JSON.stringify(file)}`);
        }
        weightMap.set(name, file);
      }
      for (const file of new Set(weightMap.values())) {
        const src = await tryOpen(dirOrUrl, file, sourceOpts);
        if (!src) throw new Error(`${file}: shard listed in ${INDEX} is missing from model folder ${dirOrUrl}`);
        shards.set(file, src);
      }
    }

    const infos = new Map<string, HFTensorInfo>();
    const headers = await Promise.all([...shards].map(async ([file, src]) => [file, await readSafetensors(src)] as const));
    for (const [file, st] of headers) {
      for (const t of st.tensors) {
        // With an index, only the names it assigns to this shard count.
        if (!weightMap || weightMap.get(t.name) === file) infos.set(t.name, { ...t, file });
      }
    }
    if (weightMap) {
      for (const [name, file] of weightMap) {
        if (!infos.has(name)) throw new Error(`${file}: tensor '${name}' is listed in ${INDEX} but absent from this shard`);
      }
    }

    const tensorNames = [...infos.keys()].sort();
    let closed = false;
    const info = (name: string): HFTensorInfo => {
      const i = infos.get(name);
      if (!i) throw new Error(`${dirOrUrl}: model has no tensor '${name}'`);
      return i;
    };
    return {
      config,
      tensorNames,
      has: (name) => infos.has(name),
      info,
      read: (async (name: string, want: SafetensorsWant) => {
        if (closed) throw new Error(`${dirOrUrl}: model is closed`);
        const i = info(name);
        return readSafetensorsTensor(shards.get(i.file)!, i, want);
      }) as HFModel['read'],
      async readJSON(file: string) {
        const src = await tryOpen(dirOrUrl, file, sourceOpts);
        if (!src) throw new Error(`${file}: missing from model folder ${dirOrUrl}`);
        return readJson(src);
      },
      async close() {
        closed = true;
        await Promise.all([...shards.values()].map((s) => s.close()));
      },
    };
  } catch (e) {
    await Promise.all([...shards.values()].map((s) => s.close()));
    throw e;
  }
}
