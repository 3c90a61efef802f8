// Primitives every area's contract uses. Only zod: the dashboard imports these files too.
import { z } from 'zod';

export const ROLES = ['admin', 'finance', 'engineer'] as const;
export type Role = (typeof ROLES)[number];
export const role = z.enum(ROLES);

export const uuid = z.uuid();
/** An instant as JSON carries it (ISO 8601 with Z or an offset). */
export const instant = z.iso.datetime({ offset: true });
/** Nano-dollars as a decimal string: exact, never a float (may be negative for differences). */
export const nanos = z.string().regex(/^-?\d+$/, 'nano-dollars as an integer string');
/** USD as a decimal string for reading (exact to the nano-dollar). */
export const usd = z.string().regex(/^-?\d+(\.\d+)?$/, 'USD as a decimal string');
/** A count or token total: a non-negative integer. */
export const count = z.number().int().nonnegative();

export const idParams = z.strictObject({ id: uuid });
export const orgKeyParams = z.strictObject({ id: uuid, keyId: uuid });

/** Lists of `{ data: [...] }`. */
export const dataOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });

/** OpenAI's error shape: every error Tallygate answers. */
export const openAIErrorSchema = z.object({
  error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }),
});
export type OpenAIErrorBody = z.infer<typeof openAIErrorSchema>;

/**
 * Attribution bounds (server/ledger/bounds.ts enforces them on every event): at most TAGS_MAX tags
 * per event, names of TAG_NAME_MAX characters from TAG_NAME, values of TAG_VALUE_MAX characters.
 */
export const TAGS_MAX = 10;
export const TAG_NAME_MAX = 40;
export const TAG_VALUE_MAX = 128;
/** Lower-case letters, digits, `_`, `-` and `.`, starting with a letter or digit (as in HTTP header names). */
export const TAG_NAME = /^[a-z0-9][a-z0-9_.-]*$/;

/** A tag's name (docs/attribution.md): customer, env, team-id. */
export const tagName = z
  .string()
  .max(TAG_NAME_MAX, `a tag name has at most ${TAG_NAME_MAX} characters`)
  .regex(TAG_NAME, 'a tag name is lower-case letters, digits, "_", "-" or ".", starting with a letter or digit (customer, env, team-id)');
/** A tag's value or an end user, as callers send it. */
export const tagValue = z.string().min(1).max(TAG_VALUE_MAX);
