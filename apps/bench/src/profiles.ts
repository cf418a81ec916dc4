/** Loads and checks profiles.json (apps/bench/profiles.json, or --profiles FILE). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APP_DIR } from './paths.js';
import { isMethod, isTask, type MethodName, type RunConfig, type TaskName } from './contract.js';

export interface GateSettings {
  /** Baseline JSON, relative to apps/bench. */
  baseline: string;
  /** Absolute accuracy drop (0..1) allowed below the baseline. */
  accuracyTolerance: number;
  /** Fail when relative throughput < throughputRatio x the baseline's. */
  throughputRatio: number;
}

export interface Profile {
  name: string;
  description: string;
  measured: boolean;
  budgetSeconds: number | null;
  methods: MethodName[];
  tasks: TaskName[];
  seeds: number;
  config: Partial<RunConfig>;
  gate?: GateSettings;
}

export const DEFAULT_PROFILES_FILE = path.join(APP_DIR, 'profiles.json');

export function parseProfiles(json: unknown, source = 'profiles.json'): Record<string, Profile> {
  const root = json as { profiles?: Record<string, unknown> };
  if (!root || typeof root !== 'object' || !root.profiles || typeof root.profiles !== 'object') {
    throw new Error(`${source}: expected { "profiles": { name: {...} } }`);
  }
  const out: Record<string, Profile> = {};
  for (const [name, raw] of Object.entries(root.profiles)) {
    const p = raw as Record<string, unknown>;
    const where = `${source}: profile '${name}'`;
    const methods = (p.methods ?? []) as string[];
    const tasks = (p.tasks ?? []) as string[];
    const bad = [...methods.filter((m) => !isMethod(m)), ...tasks.filter((t) => !isTask(t))];
    if (bad.length) throw new Error(`${where}: unknown method/task ${bad.join(', ')}`);
    if (!Number.isInteger(p.seeds) || (p.seeds as number) < 1) throw new Error(`${where}: seeds must be a positive integer`);
    out[name] = {
      name,
      description: String(p.description ?? ''),
      measured: Boolean(p.measured),
      budgetSeconds: typeof p.budgetSeconds === 'number' ? p.budgetSeconds : null,
      methods: methods as MethodName[],
      tasks: tasks as TaskName[],
      seeds: p.seeds as number,
      config: (p.config ?? {}) as Partial<RunConfig>,
      gate: p.gate as GateSettings | undefined,
    };
  }
  return out;
}

export function loadProfiles(file = DEFAULT_PROFILES_FILE): Record<string, Profile> {
  return parseProfiles(JSON.parse(readFileSync(file, 'utf8')), file);
}
