// Attribution as a call hook: which end user and tags a call is for, from the request as sent
// (`x-tallygate-tag-<name>` headers, which the proxy never forwards; the body's `safety_identifier`
// or `user`, and `metadata` keys that are declared tags) and the feature's default tags. A call
// missing a required tag is refused with a 400 before it is sent (it still gets its row). A call
// with none of these costs a scan of its header names and two property reads.
import { Injectable } from '@nestjs/common';
import type { CallHook, HookedCall } from '../gateway/hooks/call-hook.js';
import { TAG_NAME, TAG_NAME_MAX, TAGS_MAX } from '../ledger/bounds.js';
import type { UsageEvent } from '../ledger/usage-event.js';
import { badRequest } from '../http/openai-error.js';
import { AttributionService, END_USER_TAG } from './attribution.service.js';

const PREFIX = 'x-tallygate-tag-';

/** What the hook decided for a call, kept in call.notes between its phases. */
interface Attributed {
  endUser: string | null;
  tags: Record<string, string | null> | null;
  /** A value was cut to its tag's length. */
  cut: boolean;
}

/**
 * The end user and tags decided for a call, for hooks after this one (a budget scoped to a tag):
 * undefined when the call is not attributed. Tags with a null value are "other".
 */
export function attributionOf(call: HookedCall): Readonly<Pick<Attributed, 'endUser' | 'tags'>> | undefined {
  return call.notes.attribution as Attributed | undefined;
}

@Injectable()
export class AttributionHook implements CallHook {
  readonly name = 'attribution';

  constructor(private readonly attribution: AttributionService) {}

  beforeForward(call: HookedCall): void {
    const route = call.route;
    if (!route) return;
    const rules = this.attribution.configured ? this.attribution.featureRules(route.featureId) : undefined;
    const body = call.requestBody;
    const identifier = body ? (body.safety_identifier ?? body.user) : undefined;
    const metadata = body && this.attribution.configured ? body.metadata : undefined;
    let given: Record<string, string> | undefined;
    const headers = call.requestHeaders;
    for (const key in headers) {
      if (key.length <= PREFIX.length || !key.startsWith(PREFIX)) continue;
      const raw = headers[key];
      const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
      const name = key.slice(PREFIX.length);
      if (!value || name.length > TAG_NAME_MAX || !TAG_NAME.test(name)) continue;
      (given ??= {})[name] = value;
    }
    if (given === undefined && rules === undefined && typeof identifier !== 'string' && metadata === undefined) return;

    // Sent by the call first, then the body's metadata (declared tags only), then the feature's defaults.
    if (metadata && typeof metadata === 'object' && !Array.isArray(metadata)) {
      for (const [name, value] of Object.entries(metadata as Record<string, unknown>)) {
        if (typeof value === 'string' && value !== '' && this.attribution.isDeclared(name)) (given ??= {})[name] ??= value;
      }
    }
    if (rules) for (const name of rules.defaultNames) (given ??= {})[name] ??= rules.defaultTags[name];

    const note: Attributed = { endUser: null, tags: null, cut: false };
    call.notes[this.name] = note;
    const at = call.createdAt;
    if (typeof identifier === 'string' && identifier !== '') {
      const value = this.cut(END_USER_TAG, identifier, note);
      note.endUser = this.attribution.admit(END_USER_TAG, value, at) ?? ''; // '' is "other" (see TAG_PAIRS)
    }
    if (given) {
      let count = 0;
      for (const name in given) {
        if (count === TAGS_MAX) break;
        const value = this.attribution.admit(name, this.cut(name, given[name], note), at);
        if (value === undefined) continue;
        (note.tags ??= {})[name] = value;
        count++;
      }
    }
    const missing = rules?.requiredTags.filter((name) => given?.[name] === undefined);
    if (missing?.length) {
      const list = missing.map((n) => `"${n}"`).join(', ');
      throw badRequest(
        `This feature requires the tag${missing.length > 1 ? 's' : ''} ${list}: send ${missing.map((n) => `x-tallygate-tag-${n}: <value>`).join(', ')} with the request (or set a default tag on the feature).`,
        `${PREFIX}${missing[0]}`,
        'missing_required_tag',
      );
    }
  }

  onEvent(event: UsageEvent, call: HookedCall): void {
    const note = call.notes[this.name] as Attributed | undefined;
    if (!note) return;
    event.endUser = note.endUser;
    event.tags = note.tags;
    if (note.cut) event.clamped = event.clamped ? `${event.clamped},tags` : 'tags';
  }

  private cut(name: string, value: string, note: Attributed): string {
    const max = this.attribution.maxLength(name);
    if (value.length <= max) return value;
    note.cut = true;
    return value.slice(0, max);
  }
}
