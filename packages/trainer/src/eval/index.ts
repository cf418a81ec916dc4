/** Evaluation: first-token scoring and routing metrics. */
export { evaluate, labelTokenIds, type EvaluateOptions, type EvaluateResult } from './score.js';
export { RouteStats, expertLoad, routerEntropy, routesByLayer, loadShare, type RouteLike, type LayerRoutes, type RouteSource, type RouteSummary, type TokenMask } from './metrics.js';
