// /api/docs: the routes Nest registered (tags, bearer auth) with their parameters, bodies and answers
// taken from the API contract (server/contract), so the document cannot describe a shape the server
// does not validate with.
import type { OpenAPIObject } from '@nestjs/swagger';
import { API_ROUTES } from '../contract/index.js';
import { openApiOperation, openApiPath } from '../contract/openapi.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

export function withContract(document: OpenAPIObject): OpenAPIObject {
  const byOperation = new Map(API_ROUTES.map((r) => [`${r.method.toLowerCase()} ${openApiPath(r.path)}`, r]));
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      const route = operation && byOperation.get(`${method} ${path}`);
      if (!operation || !route) continue;
      const generated = openApiOperation(route);
      // Nest's own entries (operationId, tags, security) stay; what it cannot know comes from the contract.
      delete operation.requestBody;
      Object.assign(operation, generated);
    }
  }
  return document;
}
