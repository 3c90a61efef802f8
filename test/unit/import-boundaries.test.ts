// The folders of server/ form layers: no import cycle between two top-level folders (ledger ->
// ratelimits -> pricing -> ledger was one), and only the wiring (server/*.ts, demo) imports the
// gateway; nor between files (the access guard and the auth services were one). Parsed from the sources, so a new import that breaks this fails here, with its file.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../server');

/**
 * Imports known to cross a boundary the wrong way, each with why and who removes it. Keep it empty:
 * an entry here is debt, and the test fails once the import is gone so the entry goes too.
 */
const KNOWN: Record<string, string> = {
};

/**
 * The gateway's one public seam: the call-hook contract that policy modules (budgets, moderation,
 * batches, attribution) implement. Importing it is allowed from anywhere; it imports only types.
 */
const HOOK_SEAM = 'gateway/hooks/call-hook.ts';

/** Files (relative to server/, as folder/file.ts) outside server/gateway/ that may import it: the app's wiring. */
const MAY_IMPORT_GATEWAY = (file: string) => !file.includes('/') || file.startsWith('demo/');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a source file (static, re-exports, dynamic), as paths relative to server/ ending in .ts. */
export function importsOf(file: string, text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:^|[\s;])(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const match of text.matchAll(pattern)) {
    const target = match[1] ?? match[2];
    found.push(normalize(join(dirname(file), target)).replace(/\.js$/, '.ts'));
  }
  return found;
}

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : null);

/** Every cycle between folders, as the folders in order, from a folder -> folders graph (Tarjan's strongly connected components). */
export function folderCycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

interface Edge {
  from: string;
  to: string;
}

function crossFolderImports(): Edge[] {
  const edges: Edge[] = [];
  for (const path of sources(ROOT)) {
    const from = relative(ROOT, path);
    for (const to of importsOf(from, readFileSync(path, 'utf8'))) {
      if (to.startsWith('..')) continue; // outside server/ (package.json and the like)
      if (folderOf(from) !== folderOf(to)) edges.push({ from, to });
    }
  }
  return edges;
}

describe('import boundaries', () => {
  const edges = crossFolderImports();
  const known = (e: Edge) => `${e.from} -> ${e.to}` in KNOWN || e.to === HOOK_SEAM;

  it('finds the imports it checks', () => {
    // A parser that matched nothing would pass everything below.
    expect(edges.length).toBeGreaterThan(50);
    expect(edges).toContainEqual({ from: 'ledger/ledger.writer.ts', to: 'config/config.ts' });
  });

  it('has no import cycle between top-level folders of server/', () => {
    const graph = new Map<string, Set<string>>();
    for (const edge of edges) {
      const [from, to] = [folderOf(edge.from), folderOf(edge.to)];
      if (!from || !to || known(edge)) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
    const cycles = folderCycles(graph);
    // Name the imports that make each cycle, so the message says what to move.
    const culprits = cycles.map((folders) =>
      edges
        .filter((e) => folders.includes(folderOf(e.from) ?? '') && folders.includes(folderOf(e.to) ?? '') && !known(e))
        .map((e) => `${e.from} -> ${e.to}`),
    );
    expect(culprits).toEqual([]);
  });

  it('has no import cycle between files (the simulator, a stand-in for OpenAI, aside)', () => {
    const graph = new Map<string, Set<string>>();
    for (const path of sources(ROOT)) {
      const from = relative(ROOT, path);
      if (folderOf(from) === 'simulator') continue;
      graph.set(from, new Set(importsOf(from, readFileSync(path, 'utf8')).filter((to) => folderOf(to) !== 'simulator')));
    }
    expect(folderCycles(graph)).toEqual([]);
  });

  it('lets only the wiring (server/*.ts, demo) import server/gateway/', () => {
    const offending = edges.filter((e) => folderOf(e.to) === 'gateway' && !known(e) && !MAY_IMPORT_GATEWAY(e.from)).map((e) => `${e.from} -> ${e.to}`);
    expect(offending).toEqual([]);
  });

  it('lists as known only imports that still exist', () => {
    const present = new Set(edges.map((e) => `${e.from} -> ${e.to}`));
    expect(readFileSync(join(ROOT, HOOK_SEAM), 'utf8')).not.toMatch(/^import (?!type )/m);
    expect(Object.keys(KNOWN).filter((k) => !present.has(k))).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('parses static, re-exported, type-only and dynamic imports, and ignores packages', () => {
    const text = [
      `import { a } from '../ledger/a.js';`,
      `import type { B } from './b.js';`,
      `export { c } from '../pricing/c.js';`,
      `export type { D } from '../auth/d.js';`,
      `import '../side/effect.js';`,
      `const e = await import('../late/e.js');`,
      `import { Injectable } from '@nestjs/common';`,
    ].join('\n');
    expect(importsOf('orgs/x.ts', text)).toEqual(['ledger/a.ts', 'orgs/b.ts', 'pricing/c.ts', 'auth/d.ts', 'side/effect.ts', 'late/e.ts']);
  });

  it('finds a cycle of three folders and none in a layered graph', () => {
    const g = (pairs: string[]) => {
      const graph = new Map<string, Set<string>>();
      for (const p of pairs) {
        const [from, to] = p.split('>');
        if (!graph.has(from)) graph.set(from, new Set());
        graph.get(from)!.add(to);
      }
      return graph;
    };
    expect(folderCycles(g(['ledger>ratelimits', 'ratelimits>pricing', 'pricing>ledger', 'gateway>ledger']))).toEqual([['ledger', 'pricing', 'ratelimits']]);
    expect(folderCycles(g(['gateway>ledger', 'gateway>pricing', 'pricing>ledger', 'ratelimits>ledger']))).toEqual([]);
  });
});
