import type { z } from 'zod';
import { badRequest } from './openai-error.js';

/** Parses input with a zod schema; a failure is a 400 in OpenAI's shape naming the field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue.path.join('.') || null;
  const message =
    issue.code === 'unrecognized_keys' ? `Unknown parameter(s): ${issue.keys.join(', ')}.` : `${param ? `${param}: ` : ''}${issue.message}`;
  throw badRequest(message, issue.code === 'unrecognized_keys' ? issue.keys[0] : param);
}
