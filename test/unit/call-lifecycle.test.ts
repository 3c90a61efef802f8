// The lifecycle of a call: only the proxy moves it, one phase at a time, and ending is allowed
// from anywhere (refused, failed, aborted), once.
import { describe, expect, it } from 'vitest';
import { Call, PhaseError } from '../../server/gateway/call.js';
import { endpoint, route } from '../support/calls.js';

const outgoing = () => ({ bytes: Buffer.from('{"model":"gpt-4o-mini"}'), hideUsageChunk: false, contentType: 'application/json', json: { model: 'gpt-4o-mini' } });

describe('Call lifecycle', () => {
  it('goes received → authorized → admitted → sent → answered → ended', () => {
    const call = new Call(endpoint('chat.completions'), {}, 0);
    expect(call.phase).toBe('received');
    call.authorize(route());
    expect(call.phase).toBe('authorized');
    call.readBody(outgoing());
    expect(call.requestBody).toEqual({ model: 'gpt-4o-mini' });
    expect(call.requestBytes).toBe(23);
    call.admit();
    expect(call.phase).toBe('admitted');
    expect(call.sent).toBe(false);
    call.send();
    expect(call.phase).toBe('sent');
    expect(call.sent).toBe(true);
    expect(call.upstreamAt).toBeGreaterThan(0);
    call.answer(200, { 'content-type': 'application/json' });
    expect(call).toMatchObject({ phase: 'answered', status: 200, upstream: { statusCode: 200 } });
    call.end();
    expect(call.phase).toBe('ended');
    expect(call.endedAt).toBeGreaterThan(0);
  });

  it('refuses a skipped or repeated phase: a call cannot be sent before it was admitted, nor answered twice', () => {
    const call = new Call(endpoint('chat.completions'), {}, 0);
    expect(() => call.send()).toThrow(PhaseError);
    call.authorize(route());
    expect(() => call.authorize(route())).toThrow('call cannot go from authorized to authorized');
    expect(() => call.answer(200, {})).toThrow(PhaseError);
    call.admit();
    call.send();
    call.answer(200, {});
    expect(() => call.answer(200, {})).toThrow(PhaseError);
  });

  it('ends from any phase, once, keeping the first end time; a call ended before it was sent was never sent', () => {
    const refused = new Call(endpoint('chat.completions'), {}, 0);
    refused.authorize(route());
    refused.end();
    expect(refused).toMatchObject({ phase: 'ended', sent: false, upstreamAt: 0 });
    const first = refused.endedAt;
    refused.end();
    expect(refused.endedAt).toBe(first);
    expect(() => refused.admit()).toThrow(PhaseError);
  });

  it('a piped upload has no body length to estimate from', () => {
    const call = new Call(endpoint('audio.transcriptions'), {}, 0);
    expect(call.requestBytes).toBe(0);
  });
});
