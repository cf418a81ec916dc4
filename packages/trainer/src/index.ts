/**
 * @moegraph/trainer: fine-tune and evaluate LoRA and mixture-of-LoRA-experts methods on
 * commonsense multiple-choice tasks; checkpoints, resume, metrics and the `moegraph` CLI.
 *
 *   import { runExperiment, defaultRunConfig } from '@moegraph/trainer';
 *   const result = await runExperiment(defaultRunConfig({ method: 'gmoe', task: 'boolq', trainLimit: 64 }));
 */
export * from './types.js';
export {
  attachMethod, checkOptionKeys, tokenMaskTensor, METHOD_OPTION_KEYS, TRAINER_OPTION_KEYS, DEFAULT_BALANCE_COEF,
  type AttachedMethod, type MethodLossState,
} from './methods.js';
export {
  runExperiment, defaultRunConfig, validateRunConfig, defaultModelPath, limitExamples, loadForRun, evaluateWithRoutes,
  BASE_DEFAULTS, METHOD_DEFAULTS, type RunHooks, type Loaded,
} from './run.js';
export { train, plannedSteps, dataGenerator, type TrainOptions, type TrainResult, type TrainHooks, type StepInfo } from './train/loop.js';
export { learningRate } from './train/schedule.js';
export { adapterGenerators } from './train/generators.js';
export {
  writeCheckpoint, readCheckpoint, latestCheckpoint, restoreAdapterTensors, writeFileAtomic, CHECKPOINT_FORMAT,
  type CheckpointState, type LoadedCheckpoint,
} from './checkpoint/index.js';
export { createProgress, silentProgress, formatDuration, type ProgressReporter, type ProgressUpdate, type ProgressOptions } from './progress.js';
export * from './data/index.js';
export * from './eval/index.js';
