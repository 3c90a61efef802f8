// The OpenAPI operations of /api/docs, generated from the contract's routes with zod's own JSON Schema
// output: parameters, request bodies and responses, nothing written twice. Only zod here.
import { z } from 'zod';
import { openAIErrorSchema } from './common.js';
import type { ApiRoute } from './route.js';

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[]; description?: string };

export interface OpenApiOperation {
  summary: string;
  tags?: string[];
  parameters: Array<{ name: string; in: 'path' | 'query'; required: boolean; description?: string; schema: JsonSchema; style?: string; explode?: boolean }>;
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema }> }>;
  'x-roles': string[];
}

/** What a client sends is the schema's input side (before defaults and transforms); what it receives, the output. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io,
    unrepresentable: 'any',
    // `format: date-time` or `uuid` says it; zod's long regex for the same thing only bloats the document.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time' || jsonSchema.format === 'uuid') delete jsonSchema.pattern;
    },
  }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** `/api/admin/orgs/:id` → `/api/admin/orgs/{id}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): OpenApiOperation['parameters'] {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input');
  const required = new Set(object.required ?? []);
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
      ...(where === 'query' ? { style: 'form', explode: true } : {}),
    };
  });
}

const ERROR = { description: "An error in OpenAI's shape", content: { 'application/json': { schema: jsonSchema(openAIErrorSchema, 'output') } } };

export function openApiOperation(route: ApiRoute, tag?: string): OpenApiOperation {
  const status = String(route.status ?? 200);
  const content: Record<string, { schema: JsonSchema }> = {};
  if (route.response && route.csv !== 'only') content['application/json'] = { schema: jsonSchema(route.response, 'output') };
  if (route.csv) content['text/csv'] = { schema: { type: 'string', description: 'RFC 4180 CSV (CRLF); text cells that start like a formula are prefixed with \'' } };
  return {
    summary: route.summary,
    ...(tag ? { tags: [tag] } : {}),
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
    responses: {
      [status]: route.response === null ? { description: 'No content' } : { description: 'OK', content },
      default: ERROR,
    },
    'x-roles': route.roles === 'public' ? ['public'] : ['admin', ...route.roles.filter((r) => r !== 'admin')],
  };
}

/** Every route as OpenAPI `paths`. */
export function openApiPaths(routes: ReadonlyArray<ApiRoute & { tag?: string }>): Record<string, Record<string, OpenApiOperation>> {
  const paths: Record<string, Record<string, OpenApiOperation>> = {};
  for (const route of routes) (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = openApiOperation(route, route.tag);
  return paths;
}
