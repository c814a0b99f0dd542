import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Window } from 'happy-dom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { callGraph, services, topics } from '../../charts/platform.js';
import { generateDocs } from '../../scripts/generate-docs.js';
import { request, startForTest } from '../apps/support.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- OpenAPI documents and Mermaid's parse results are untyped JSON */
const root = new URL('../../', import.meta.url).pathname;
let generated: Map<string, string>;
const openapi = (service: string): any => JSON.parse(generated.get(`docs/openapi/${service}.json`)!);

beforeAll(async () => {
  generated = await generateDocs();
}, 60_000);

describe('generated docs', () => {
  it('are committed as generated: run `npm run docs` after changing the model, the charts or a route', () => {
    for (const [path, content] of generated) {
      expect(existsSync(join(root, path)), `${path} is not committed`).toBe(true);
      expect(readFileSync(join(root, path), 'utf8'), `${path} is out of date: run npm run docs`).toBe(content);
    }
    const committed = readdirSync(join(root, 'docs/openapi')).map((f) => `docs/openapi/${f}`);
    expect(committed.sort(), 'stale OpenAPI documents in docs/openapi').toEqual([...generated.keys()].filter((p) => p.startsWith('docs/openapi/')).sort());
  });

  it('come out the same on every run (no timestamps, stable order)', async () => {
    expect(await generateDocs()).toEqual(generated);
  }, 60_000);
});

describe('service decomposition diagram', () => {
  // Mermaid's own flowchart parser (the one that renders it on GitHub); it needs a DOM for its
  // sanitizer only, which happy-dom provides headless.
  let diagram: any;
  beforeAll(async () => {
    const window = new Window();
    Object.assign(globalThis, { window, document: window.document });
    const { default: mermaid } = await import('mermaid');
    const source = /```mermaid\n([\s\S]*?)\n```/.exec(generated.get('docs/architecture.md')!)?.[1];
    expect(source).toBeDefined();
    await expect(mermaid.parse(source!)).resolves.toMatchObject({ diagramType: 'flowchart-v2' });
    diagram = await mermaid.mermaidAPI.getDiagramFromText(source!);
  }, 60_000);

  it('parses as a Mermaid flowchart with a node per service, database and topic', () => {
    const nodes = [...diagram.db.getVertices().values()].map((v: any) => v.text as string);
    for (const s of services) {
      expect(nodes).toContain(`${s.name} (${s.replicas} replica${s.replicas === 1 ? '' : 's'})`);
      expect(nodes).toContain(`${s.name}-db (PostgreSQL)`);
    }
    for (const t of topics) expect(nodes.some((n) => n.startsWith(`${t.name} (`))).toBe(true);
  });

  it('draws every call-graph edge with its routes, and producers and consumers as dotted edges', () => {
    const edges = diagram.db.getEdges().map((e: any) => ({ from: e.start, to: e.end, text: e.text, stroke: e.stroke }));
    for (const call of callGraph) {
      const edge = edges.find((e: any) => e.from === call.from && e.to === call.to);
      expect(edge, `${call.from} -> ${call.to}`).toBeDefined();
      for (const route of call.routes) expect(edge.text).toContain(route.description.replace('GET|HEAD', 'GET'));
    }
    const dotted = edges.filter((e: any) => e.stroke === 'dotted');
    expect(dotted).toHaveLength(topics.reduce((n, t) => n + t.producers.length + t.consumers.length, 0));
    expect(dotted.filter((e: any) => e.text === 'consumes').map((e: any) => e.to)).toEqual(topics.flatMap((t) => t.consumers));
  });
});

describe('OpenAPI documents', () => {
  it('validate against the OpenAPI 3.1 schema', async () => {
    const validator = new Validator();
    for (const s of services) {
      const result = await validator.validate(openapi(s.name));
      expect(result, s.name).toEqual({ valid: true });
    }
  });

  it('hold JSON Schemas that compile under the 2020-12 dialect OpenAPI 3.1 uses', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    ajv.addKeyword('example');
    const schemas: any[] = [];
    const collect = (node: any): void => {
      if (node && typeof node === 'object') {
        if (node.schema && !node.schema.$ref) schemas.push(node.schema);
        for (const value of Object.values(node)) collect(value);
      }
    };
    for (const s of services) collect(openapi(s.name).paths);
    expect(schemas.length).toBeGreaterThan(30);
    for (const schema of schemas) expect(() => ajv.compile(schema)).not.toThrow();
  });

  it('document every route the model declares, with its route class', () => {
    for (const s of services) {
      const documented = Object.entries(openapi(s.name).paths).flatMap(([path, item]: [string, any]) =>
        Object.entries(item).map(([method, op]: [string, any]) => `${method.toUpperCase()} ${path} ${op['x-meshkit-route-class']}`),
      );
      expect(documented.sort()).toEqual(s.routes.map((r) => `${r.methods[0]} ${r.path} ${r.routeClass.name}`).sort());
    }
  });
});

// The response schemas are derived from TypeScript types; these calls to the real services
// check that what they answer is what the documents say, status by status.
describe('OpenAPI documents against the running services', () => {
  let product: RunningService;
  let payment: RunningService;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  beforeAll(async () => {
    [product, payment] = await Promise.all([startForTest(productService), startForTest(paymentService)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([product?.stop(), payment?.stop()]);
  });

  const expectDocumented = (service: string, method: string, template: string, res: { status: number; body: unknown }) => {
    const doc = openapi(service);
    const responses = doc.paths[template][method.toLowerCase()].responses;
    let response = responses[String(res.status)] ?? responses.default;
    if (response.$ref) response = doc.components.responses[response.$ref.split('/').pop()];
    let schema = response.content['application/json'].schema;
    if (schema.$ref) schema = doc.components.schemas[schema.$ref.split('/').pop()];
    const validate = ajv.compile(schema);
    expect(validate(res.body), `${method} ${template} ${res.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
    return responses[String(res.status)] !== undefined;
  };

  it('product answers lists, single products, reservations and validation errors as documented', async () => {
    const list = await request(product.url, 'GET', '/products');
    expect(expectDocumented('product', 'GET', '/products', list)).toBe(true);
    const first = list.body.products[0];
    expect(expectDocumented('product', 'GET', '/products/{id}', await request(product.url, 'GET', `/products/${first.id}`))).toBe(true);
    const orderId = randomUUID();
    const reserve = await request(product.url, 'POST', '/reservations', {
      json: { orderId, items: [{ productId: first.id, quantity: 1 }] },
      headers: { 'idempotency-key': orderId },
    });
    expect(reserve.status).toBe(201);
    expect(expectDocumented('product', 'POST', '/reservations', reserve)).toBe(true);
    const commit = await request(product.url, 'POST', `/reservations/${orderId}/commit`, { headers: { 'idempotency-key': orderId } });
    expect(expectDocumented('product', 'POST', '/reservations/{orderId}/commit', commit)).toBe(true);
    const invalid = await request(product.url, 'GET', '/products?limit=0');
    expect(invalid.status).toBe(400);
    expect(expectDocumented('product', 'GET', '/products', invalid)).toBe(true);
  });

  it('payment answers charges, refunds (built in its domain, behind the idempotency store) and declines as documented', async () => {
    const key = randomUUID();
    const charge = await request(payment.url, 'POST', '/charges', {
      json: { amountCents: 1200, currency: 'EUR', source: 'tok_visa' },
      headers: { 'idempotency-key': key },
    });
    expect(charge.status).toBe(201);
    expect(expectDocumented('payment', 'POST', '/charges', charge)).toBe(true);
    const refund = await request(payment.url, 'POST', `/charges/${charge.body.id}/refund`, { json: {}, headers: { 'idempotency-key': randomUUID() } });
    expect(expectDocumented('payment', 'POST', '/charges/{id}/refund', refund)).toBe(true);
    expect(expectDocumented('payment', 'GET', '/charges/{id}', await request(payment.url, 'GET', `/charges/${charge.body.id}`))).toBe(true);
    // A decline is an error in the one error shape, documented as 402 (found in the stored outcome the domain builds).
    const declined = await request(payment.url, 'POST', '/charges', {
      json: { amountCents: 1200, currency: 'EUR', source: 'tok_decline' },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect(declined.status).toBe(402);
    expect(expectDocumented('payment', 'POST', '/charges', declined)).toBe(true);
    const missingKey = await request(payment.url, 'POST', '/charges', { json: { amountCents: 1200, currency: 'EUR', source: 'tok_visa' } });
    expect(missingKey.status).toBe(400);
    expect(expectDocumented('payment', 'POST', '/charges', missingKey)).toBe(true);
  });
});
