// What counts as money in an answer, for the tests that check engineers never get any.

/** Names that carry money (or are derived from it) as a JSON key or a CSV column. `unpricedRequests` is a count: usage, not money. */
export const MONEY_FIELD = /spend|cost|nanos|usd|(?<!un)price|budget|forecast|amount|dollar|invoice|charge|bill/i;

/** Every key path whose name says money, anywhere in a JSON value. */
export function moneyKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => moneyKeys(item, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [...(MONEY_FIELD.test(key) ? [`${path}.${key}`] : []), ...moneyKeys(child, `${path}.${key}`)]);
}
