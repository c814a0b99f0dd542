import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (local/dev/ is two levels below it). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
