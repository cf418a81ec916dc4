#!/usr/bin/env node
/**
 * moegraph-bench: the papers' accuracy/stability table, the GMoE ablation, hyper-parameter sweeps,
 * the CI gate, the MoE block micro-benchmark and the speed comparison with peers (perf).
 *   node apps/bench/dist/cli.js <table|ablation|sweep|ci|block|perf> [options]   (--help for all)
 * The commands live in command.ts (runCli), which tests call with an injected trainer.
 */
import { runCli } from './command.js';

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
