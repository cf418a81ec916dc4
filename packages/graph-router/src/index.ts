/**
 * @moegraph/graph-router: GMoE's graph router (SPEC section 3) for attachMoE.
 *
 *   import { graphRouter } from '@moegraph/graph-router';
 *   attachMoE(model, { method: 'mixlora', numExperts: 8, topK: 2, r: 2, alpha: 4, router: graphRouter() });
 *
 * Importing this package registers `routerTypes.graph`, so loadAdapter rebuilds saved graph routers
 * (with their saved graph).
 */
import { routerTypes } from '@moegraph/lora';
import { graphRouterFromDescription } from './gcn-router.js';

routerTypes.graph = graphRouterFromDescription;

export {
  GraphRouter, graphRouter, graphRouterFromDescription, optionsFromDescription, glorotUniform, normalizeT, cosineAdjacencyT,
  REFERENCE_GRAPH_ROUTER, type GraphRouterOptions, type GraphConv, type GraphPath,
} from './gcn-router.js';
export {
  ExpertGraph, buildGraph, findTwins, drawDensityEdges, cosineEdges, canonicalEdges, adjacencyMatrix, normalizeAdjacency,
  type Edge, type EdgeRule, type TwinPolicy, type GraphOptions,
} from './graph.js';
