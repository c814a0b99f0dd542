import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as library from '../../constructs/index.js';
import { apiReferencePath, renderApiReference } from '../../scripts/generate-api-reference.js';

describe('the API reference (packages/meshkit/API.md)', () => {
  const rendered = renderApiReference();

  it('is what the TSDoc comments generate today: run `npm run api` after changing the public API or its docs', () => {
    expect(readFileSync(apiReferencePath, 'utf8')).toBe(rendered);
  }, 120_000);

  it('documents every runtime export of the entry point', () => {
    for (const name of Object.keys(library)) expect(rendered, name).toContain(`### ${name}\n`);
  });

  it('shows the default of every optional prop of the constructs', () => {
    const props = rendered.split('\n### ').filter((s) => /^\w+Props\n/.test(s));
    expect(props.length).toBeGreaterThan(5);
    const undocumented = props.flatMap((s) =>
      s
        .split('\n')
        .filter((row) => /^\| `\w+\?` \|/.test(row) && / \|\s+\| [^|]*\|$/.test(row))
        .map((row) => `${s.split('\n')[0]}.${row.split('`')[1]}`),
    );
    expect(undocumented).toEqual([]);
  });
});
