/**
 * @moegraph/losses: GMoE's Poisson distinction and Normal balance losses, Mixtral/Switch load
 * balance, router z-loss and causal-LM cross-entropy. Plain tensors in, scalar tensor out;
 * gradients flow through the tensor runtime's autograd.
 */
export type { RouteLike } from './route.js';
export {
  poissonDistinctionLoss, poissonTarget, poissonLogTarget, PoissonDistinction, meanOfLosses,
  type PoissonLossOptions, type PoissonDistinctionOptions,
} from './poisson.js';
export {
  normalBalanceLoss, normalTarget, expertWeightSums, NormalBalance, normalBalanceLossOverLayers,
  type NormalTargetOptions, type NormalLossOptions, type NormalBalanceOptions, type NormalBalanceState, type AccumulationWindow,
} from './normal.js';
export {
  mixtralLoadBalanceLoss, switchLoadBalanceLoss, routerZLoss, loadBalanceLossFromRoutes, routerZLossFromRoutes,
  type BalanceOptions, type RoutesBalanceOptions,
} from './balance.js';
export { causalLMLoss, type CausalLMLossOptions } from './lm.js';
