/**
 * Several nodes sharing names through etcd, and hops between them. What the
 * other folders use of this one.
 */

export { ClusterNode, type ClusterOptions } from "./node.ts";
export {
  clusterFeature,
  type ClusterPlugin,
  type HopContext,
} from "./plugin.ts";
