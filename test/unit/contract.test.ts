// The API contract's own rules: its files import nothing but zod and each other (client/ bundles them),
// route names are unique, and each route's schemas turn into OpenAPI.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_ROUTES, csvRow } from '../../server/contract/index.js';
import { openApiPaths } from '../../server/contract/openapi.js';

const DIR = resolve(import.meta.dirname, '../../server/contract');

describe('server/contract', () => {
  it('imports only zod and its own files (the dashboard imports them too)', () => {
    const problems: string[] = [];
    for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(DIR, file), 'utf8');
      for (const [, from] of text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        if (from !== 'zod' && !/^\.\/[a-z-]+\.js$/.test(from)) problems.push(`${file}: imports ${from}`);
      }
      if (/\bprocess\.|node:/.test(text)) problems.push(`${file}: uses Node`);
    }
    expect(problems).toEqual([]);
    // The CSV writer needs not even zod: the dashboard bundles it without pulling zod in.
    expect(readFileSync(join(DIR, 'csv.ts'), 'utf8')).not.toMatch(/^import/m);
    expect(csvRow(['ok'])).toBe('ok\r\n');
  });

  it('has one route per method and path, each with a summary, and Nest-style path parameters in its params schema', () => {
    const keys = API_ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const route of API_ROUTES) {
      expect(route.summary.length, route.path).toBeGreaterThan(5);
      const params = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
      expect(Object.keys(route.params?.shape ?? {}).sort(), route.path).toEqual(params.sort());
    }
  });

  it('turns every route into an OpenAPI operation with its schemas', () => {
    const paths = openApiPaths(API_ROUTES);
    const signIn = paths['/api/auth/sign-in'].post;
    expect(signIn['x-roles']).toEqual(['public']);
    expect(signIn.requestBody?.content['application/json'].schema).toMatchObject({ type: 'object', required: ['email', 'password'], additionalProperties: false });
    const series = paths['/api/headroom/series'].get;
    expect(series.parameters.map((p) => [p.name, p.in, p.required])).toEqual([
      ['from', 'query', false],
      ['to', 'query', false],
      ['org', 'query', false],
      ['feature', 'query', false],
      ['model', 'query', false],
    ]);
    expect(series.parameters[0].schema).toEqual({ type: 'string', format: 'date-time' });
    const org = paths['/api/admin/orgs/{id}/keys/{keyId}'].delete;
    expect(org.parameters.map((p) => [p.name, p.in, p.required])).toEqual([
      ['id', 'path', true],
      ['keyId', 'path', true],
    ]);
    expect(paths['/api/admin/orgs/{id}/admin-key'].delete.responses['204']).toEqual({ description: 'No content' });
    expect(Object.keys(paths['/api/analytics/exports/usage-events.csv'].get.responses['200'].content ?? {})).toEqual(['text/csv']);
    // Output schemas: a money field is a nano-dollar string, never a number.
    const totals = (paths['/api/analytics/spend'].get.responses['200'].content?.['application/json'].schema as { properties: { totals: { properties: Record<string, unknown> } } }).properties.totals;
    expect(totals.properties.spendNanos).toMatchObject({ type: 'string', pattern: '^-?\\d+$' });
  });
});
