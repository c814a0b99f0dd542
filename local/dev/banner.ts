/** What `make dev` prints: the banner once the shop is ready, and the last lines when it stopped. */
import type { ServiceName } from '../../charts/platform.js';
import type { LocalShop } from './shop.js';
import { SERVICE_NAMES } from './wiring.js';

export interface BannerFacts {
  readonly shop: LocalShop;
  readonly seconds: string;
  /** The Kafka line: where it is, or why there is none. */
  readonly kafka: string;
  /** Services on a PostgreSQL database of their own (DATABASE_URL_<SERVICE>). */
  readonly onPostgres: (name: ServiceName) => boolean;
}

/** The banner: the edge first, each service, the logs, the curl flow, how to stop. */
export function readyBanner({ shop, seconds, kafka, onPostgres }: BannerFacts): string[] {
  const edge = shop.edgeUrl!;
  return [
    `meshkit shop ready in ${seconds} s`,
    `  ${'edge'.padEnd(13)} ${edge}   the public API; JWTs checked as at the ingress gateway`,
    ...SERVICE_NAMES.map((name) => {
      const s = shop.service(name);
      return `  ${name.padEnd(13)} ${s.url}  admin ${s.adminUrl}  pid ${s.pid}  ready in ${s.startupMs} ms  ${onPostgres(name) ? 'PostgreSQL' : 'PGlite'}`;
    }),
    `  ${'kafka'.padEnd(13)} ${kafka}`,
    `  ${'logs'.padEnd(13)} ${shop.runDir}/<service>.log (kept after the stop)`,
    `Try: curl ${edge}/products   or   MESHKIT_URL=${edge} make smoke   (README.md: register, log in, order, notification)`,
    'Ctrl-C stops the shop.',
  ];
}

/** The last line: where the logs are. */
export function stoppedLine(runDir: string): string {
  return `stopped; logs in ${runDir}`;
}
