import type { Scenario } from '../scenario.js';
import { databaseKill } from './database-kill.js';
import { edgeFault } from './edge-fault.js';
import { faultyPaymentPod } from './faulty-payment-pod.js';
import { kafkaBrokerKill } from './kafka-broker-kill.js';
import { naiveRetry } from './naive-retry.js';
import { overload } from './overload.js';
import { slowProduct } from './slow-product.js';

/** The seven chaos scenarios, in their numbered order. */
export const scenarios: readonly Scenario[] = [faultyPaymentPod, slowProduct, overload, edgeFault, kafkaBrokerKill, databaseKill, naiveRetry];

/** A scenario by id or number ("faulty-payment-pod", "1"); throws listing the known ones. */
export function findScenario(name: string): Scenario {
  const found = scenarios.find((s) => s.id === name || String(s.number) === name);
  if (!found) throw new Error(`unknown scenario '${name}'; known: ${scenarios.map((s) => `${s.number} ${s.id}`).join(', ')}, or 'all'`);
  return found;
}
