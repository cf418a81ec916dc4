/** The benchmark app's modules, for scripts and tests. */
export * from './contract.js';
export * from './stats.js';
export * from './plan.js';
export * from './profiles.js';
export * from './paths.js';
export * from './runner.js';
export * from './report/summary.js';
export * from './report/markdown.js';
export * from './report/html.js';
export * from './report/svg.js';
export * from './report/write.js';
export * from './ci/gate.js';
export * from './ci/refkernel.js';
export { runCli, parseCli, parseSeeds, planFromOptions, USAGE, CliError, COMMANDS, type CliOptions, type CliDeps } from './command.js';
