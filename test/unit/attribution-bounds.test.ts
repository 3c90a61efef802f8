// End user and tags are bounded as every stored value is: replayed or hand-made events that did not
// come through the attribution hook still fit their columns and the rollups' keys.
import { describe, expect, it } from 'vitest';
import { boundUsageEvent, TAG_VALUE_MAX, TAGS_MAX } from '../../server/ledger/bounds.js';
import { batchParameters } from '../../server/ledger/ledger.sql.js';
import { usageEvent, type UsageEvent } from '../../server/ledger/usage-event.js';

const at = new Date('2026-11-30T12:00:00Z');

describe('bounding attribution', () => {
  it('leaves ordinary tags alone (no allocation, nothing flagged)', () => {
    const tags = { customer: 'acme', env: null };
    const event = boundUsageEvent(usageEvent({ createdAt: at, tags, endUser: 'u-1' }));
    expect(event.tags).toBe(tags);
    expect(event.clamped).toBeUndefined();
  });

  it('drops invalid names and tags past the maximum, cuts long values, removes NUL, flags tags', () => {
    const tags: Record<string, unknown> = { 'Bad Name': 'x', ok: `a\0b${'v'.repeat(500)}`, num: 5 };
    for (let i = 0; i < 20; i++) tags[`t${i}`] = String(i);
    const event = boundUsageEvent(usageEvent({ createdAt: at, tags: tags as UsageEvent['tags'], endUser: 'e'.repeat(1000) }));
    expect(Object.keys(event.tags!)).toHaveLength(TAGS_MAX);
    expect(event.tags!.ok).toBe(`ab${'v'.repeat(TAG_VALUE_MAX - 2)}`);
    expect(event.tags).not.toHaveProperty('Bad Name');
    expect(event.tags).not.toHaveProperty('num');
    expect(event.endUser).toHaveLength(TAG_VALUE_MAX);
    expect(event.clamped!.split(',').sort()).toEqual(['end_user', 'tags']);
  });

  it('turns tags that are not an object into none', () => {
    const event = boundUsageEvent(usageEvent({ createdAt: at, tags: ['a'] as unknown as UsageEvent['tags'] }));
    expect(event.tags).toBeNull();
    expect(event.clamped).toBe('tags');
  });

  it('writes tags as a quoted JSON element of the jsonb array literal', () => {
    const params = batchParameters([usageEvent({ createdAt: at, tags: { customer: 'a"c,m}e' } }), usageEvent({ createdAt: at })]);
    expect(params).toContain('{"{\\"customer\\":\\"a\\\\\\"c,m}e\\"}",NULL}');
  });
});
