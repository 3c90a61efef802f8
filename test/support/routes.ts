// The routes the app really serves, for tests that check every /api route: Fastify's own route table,
// and each Nest handler's declared path, access rule and what it reads (body, query) and answers (status).
import { HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { ModulesContainer } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { PUBLIC_KEY, ROLES_KEY, type Role } from '../../server/auth/roles.decorator.js';

export interface RouteRule {
  method: string;
  path: string;
  public: boolean;
  roles: Role[] | undefined;
  /** The handler reads the request body / the query string. */
  readsBody: boolean;
  readsQuery: boolean;
  /** @HttpCode, or Nest's default (201 for POST, 200 otherwise). */
  status: number;
}

/** Parses Fastify's printRoutes() tree into method + full path pairs. */
export function fastifyRoutes(app: NestFastifyApplication): Array<{ method: string; path: string }> {
  const tree = app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false });
  const routes: Array<{ method: string; path: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = [...match[1]].length / 4;
    stack.length = depth;
    stack.push(match[2]);
    for (const method of match[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push({ method, path: stack.join('') });
  }
  return routes;
}

/** Every Nest handler with its route and its declared access rule (method first, then class, as the guard reads it). */
export function nestRules(app: NestFastifyApplication): RouteRule[] {
  const rules: RouteRule[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | null;
      if (!controller) continue;
      const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[name];
        if (typeof handler !== 'function' || name === 'constructor') continue;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        if (sub === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        const path = `/${[base, sub].map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/')}`;
        const roles = (Reflect.getMetadata(ROLES_KEY, handler) ?? Reflect.getMetadata(ROLES_KEY, controller)) as Role[] | undefined;
        const isPublic = Boolean(Reflect.getMetadata(PUBLIC_KEY, handler) ?? Reflect.getMetadata(PUBLIC_KEY, controller));
        const args = Object.keys((Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<string, unknown>).map((k) => Number(k.split(':')[0]));
        const status = (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ?? (method === 'POST' ? 201 : 200);
        rules.push({ method, path, public: isPublic, roles, readsBody: args.includes(RouteParamtypes.BODY), readsQuery: args.includes(RouteParamtypes.QUERY), status });
      }
    }
  }
  return rules;
}
