/**
 * Where the model and the commonsense data are: flag, then environment, then ../shared beside the
 * repository. MOEGRAPH_MODEL / MOEGRAPH_DATA name the file / folder; MOEGRAPH_SHARED moves the
 * shared folder the defaults live in.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskName } from './contract.js';

/** apps/bench (this file is apps/bench/src/paths.ts, or bundled into apps/bench/dist/*.js). */
export const APP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(APP_DIR, '../..');

export interface DataPaths {
  model: string;
  dataDir: string;
  /** Where each came from, for messages. */
  modelFrom: string;
  dataFrom: string;
}

export function sharedDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MOEGRAPH_SHARED ? path.resolve(env.MOEGRAPH_SHARED) : path.resolve(REPO_ROOT, '../shared');
}

export function resolvePaths(flags: { model?: string; dataDir?: string }, env: NodeJS.ProcessEnv = process.env): DataPaths {
  const shared = sharedDir(env);
  const sharedFrom = env.MOEGRAPH_SHARED ? 'MOEGRAPH_SHARED' : 'default ../shared';
  const model = flags.model ?? env.MOEGRAPH_MODEL ?? path.join(shared, 'models/stories260K/stories260K.gguf');
  const dataDir = flags.dataDir ?? env.MOEGRAPH_DATA ?? path.join(shared, 'data/commonsense');
  return {
    model: /^https?:\/\//.test(model) ? model : path.resolve(model),
    dataDir: path.resolve(dataDir),
    modelFrom: flags.model ? '--model' : env.MOEGRAPH_MODEL ? 'MOEGRAPH_MODEL' : sharedFrom,
    dataFrom: flags.dataDir ? '--data-dir' : env.MOEGRAPH_DATA ? 'MOEGRAPH_DATA' : sharedFrom,
  };
}

/** Problems with the model and data for these tasks, as readable lines (empty: all there). */
export function checkPaths(p: DataPaths, tasks: readonly TaskName[]): string[] {
  const problems: string[] = [];
  if (!/^https?:\/\//.test(p.model) && !existsSync(p.model)) {
    problems.push(`model not found: ${p.model} (from ${p.modelFrom}); pass --model FILE or set MOEGRAPH_MODEL (or MOEGRAPH_SHARED to the folder holding models/ and data/)`);
  }
  if (!existsSync(p.dataDir) || !statSync(p.dataDir).isDirectory()) {
    problems.push(`data folder not found: ${p.dataDir} (from ${p.dataFrom}); pass --data-dir DIR or set MOEGRAPH_DATA (or MOEGRAPH_SHARED)`);
  } else {
    for (const t of tasks) {
      const dir = path.join(p.dataDir, t);
      if (!existsSync(dir)) problems.push(`task '${t}' has no folder ${dir} (expected train/test files from ../shared/data/commonsense)`);
    }
  }
  return problems;
}
