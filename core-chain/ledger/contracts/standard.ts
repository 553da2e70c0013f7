/**
 * The native contracts every node installs, in one place: the node, the test kit and the benchmarks
 * must run the same set, or their blocks would not agree. Order is begin-block hook order.
 */
import { contractRegistry, type ContractRegistry } from '../contracts.ts';
import { createAssetContract } from './asset.ts';
import { createRegistryContract } from './registry.ts';
import { createRoutesContract } from './routes.ts';
import { createXmsgContract } from './xmsg.ts';

/** asset, registry, routes, xmsg. */
export function standardContracts(): ContractRegistry {
  return contractRegistry([createAssetContract(), createRegistryContract(), createRoutesContract(), createXmsgContract()]);
}
