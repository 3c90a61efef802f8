// `node --import ./test/support/ts-register.mjs server/main.ts`: runs the sources without a build.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
