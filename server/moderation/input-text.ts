// The text of a model call's input, for the guardrail to moderate: chat messages, a completions
// prompt, a Responses input. Images and files are not moderated here (text only, documented).

/** Moderated at most: a larger input is checked on its first MODERATED_MAX characters. */
export const MODERATED_MAX = 100_000;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Text parts of a content value: a string, or an array of parts with `text`. */
function contentText(content: unknown, out: string[]): void {
  if (typeof content === 'string') out.push(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part === 'string') out.push(part);
      else if (isObject(part) && typeof part.text === 'string') out.push(part.text);
    }
  }
}

export function inputText(endpoint: string, body: Readonly<Json> | undefined): string {
  if (!body) return '';
  const out: string[] = [];
  if (endpoint === 'chat.completions' && Array.isArray(body.messages)) {
    for (const message of body.messages) if (isObject(message)) contentText(message.content, out);
  } else if (endpoint === 'completions') {
    contentText(body.prompt, out);
  } else if (endpoint === 'responses') {
    if (typeof body.instructions === 'string') out.push(body.instructions);
    if (typeof body.input === 'string') out.push(body.input);
    else if (Array.isArray(body.input)) for (const item of body.input) if (isObject(item)) contentText(item.content, out);
  }
  const text = out.join('\n');
  return text.length > MODERATED_MAX ? text.slice(0, MODERATED_MAX) : text;
}

/** The text of a moderation call's own `input` (string, strings, or parts), for a feature that stores inputs. */
export function moderatedInput(input: unknown): string | undefined {
  const out: string[] = [];
  contentText(input, out);
  return out.length ? out.join('\n') : undefined;
}
