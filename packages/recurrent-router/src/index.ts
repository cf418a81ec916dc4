/**
 * @moegraph/recurrent-router: GraphMoE's recurrent routing (paper 003, SPEC section 4). A low-rank
 * GRU "virtual node" re-routes every token for T rounds over any LoRA-MoE base (MixLoRA by default;
 * LoRAMoE, MoLA, MING-MoE).
 *
 *   import { attachGraphMoE } from '@moegraph/recurrent-router';
 *   const adapter = attachGraphMoE(model, { rounds: 3 });
 *
 * Importing this package registers 'graphmoe' in @moegraph/lora's `attachers`, so loadAdapter()
 * rebuilds saved GraphMoE adapters.
 */
import { registerGraphMoE } from './attach.js';

export { LowRankGRU, gruHiddenSize, type GRUOptions, type CandidateActivation, type CandidateInput, type WgInit } from './gru.js';
export { RecurrentFFN, mixtureLayers, type RecurrentFFNOptions } from './recurrent.js';
export {
  attachGraphMoE,
  graphMoEConfigFromJSON,
  registerGraphMoE,
  GraphMoEModule,
  GRAPHMOE_BASE_DEFAULTS,
  type GraphMoEConfig,
  type GraphMoESaved,
} from './attach.js';

registerGraphMoE();
