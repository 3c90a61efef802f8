// Module hooks that let a child process run the TypeScript sources directly (a gateway replica
// started by a test, as its own process): `.js` imports resolve to the `.ts` file beside them and
// `.ts` is compiled on load with the same transformer vitest uses (oxc, through rolldown), legacy
// decorators and their metadata included, as Nest needs. Registered by ./ts-register.mjs.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'rolldown/utils';

export async function resolve(specifier, context, next) {
  if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:')) && context.parentURL?.startsWith('file:')) {
    const url = new URL(specifier, context.parentURL);
    const ts = new URL(url.href.replace(/\.js$/, '.ts'));
    if (!existsSync(url) && existsSync(ts)) return { url: ts.href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const path = fileURLToPath(url);
  const result = transformSync(path, await readFile(path, 'utf8'), { lang: 'ts', sourceType: 'module', decorator: { legacy: true, emitDecoratorMetadata: true }, helpers: { mode: 'Runtime' }, target: 'es2022' });
  if (result.errors?.length) throw new Error(`${path}: ${result.errors.map((e) => e.message).join('; ')}`);
  return { format: 'module', source: result.code, shortCircuit: true };
}
