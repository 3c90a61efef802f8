// What a CLI command is, and the helpers commands share. Each module keeps its commands beside it
// (`<module>.commands.ts`); server/cli.ts only registers them.
import type { INestApplicationContext } from '@nestjs/common';

export type Flags = Record<string, string | boolean | undefined>;

export interface Command {
  /** The help line: the command, its arguments, and what it does. */
  usage: string;
  /** Its result is printed as JSON. */
  run(ctx: INestApplicationContext, args: string[], flags: Flags): Promise<unknown>;
}

export type Commands = Record<string, Command>;

/** Changes made from the CLI are audited as the CLI's. */
export const CLI_ACTOR = 'cli';

export const need = (value: string | boolean | undefined, name: string): string => {
  if (typeof value !== 'string' || value === '') throw new Error(`missing --${name}`);
  return value;
};

/** A secret flag's value; `-` reads it from standard input, so it stays out of shell history. */
export async function secret(value: string | boolean | undefined, name: string): Promise<string> {
  const given = need(value, name);
  if (given !== '-') return given;
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}
