// A feature's moderation policy and the verdict it gives on OpenAI's category scores: pure, so the
// proxy's header, the ledger's row and the guardrail all read the same decision.
import { CATEGORIES, type Category, type FailMode, type GuardrailMode, type Preset } from '../contract/moderation.js';

export { CATEGORIES, FAIL_MODES, GUARDRAIL_MODES, PRESETS, type Category, type FailMode, type GuardrailMode, type Preset } from '../contract/moderation.js';

const KNOWN = new Set<string>(CATEGORIES);
export const isCategory = (name: string): name is Category => KNOWN.has(name);

/**
 * A preset's threshold per category: a score at or above it is flagged. `default` has none: it is
 * OpenAI's own `flagged`/`categories` booleans, unchanged. `strict` suits children's products
 * (anything sexual involving minors or self-harm flagged at a trace); `lenient` flags only what
 * OpenAI is close to certain of.
 */
const PRESET_THRESHOLDS: Record<Exclude<Preset, 'default'>, (category: Category) => number> = {
  strict: (c) => (c === 'sexual/minors' || c.startsWith('self-harm') ? 0.01 : 0.2),
  lenient: (c) => (c === 'sexual/minors' ? 0.5 : 0.8),
};

export interface ModerationPolicy {
  featureId: string;
  preset: Preset;
  /** Per-category overrides of the preset (0..1). */
  thresholds: Partial<Record<Category, number>>;
  /** Moderate the inputs of chat, completions and responses calls before forwarding them. */
  guardrail: GuardrailMode;
  /** In block mode, when the moderation call fails or is slow: forward anyway (open) or refuse (closed). */
  failMode: FailMode;
  /** How long the guardrail waits for the moderation answer. */
  timeoutMs: number;
  /** Keep the moderated text with the verdict (off by default: text is never stored otherwise). */
  storeInputs: boolean;
  updatedAt?: string;
}

export const DEFAULT_POLICY_FIELDS = { preset: 'default', thresholds: {}, guardrail: 'off', failMode: 'open', timeoutMs: 2_000, storeInputs: false } as const;

/** The threshold in force for a category, or undefined where OpenAI's own boolean applies. */
export function thresholdOf(policy: Pick<ModerationPolicy, 'preset' | 'thresholds'>, category: Category): number | undefined {
  const override = policy.thresholds[category];
  if (override !== undefined) return override;
  return policy.preset === 'default' ? undefined : PRESET_THRESHOLDS[policy.preset](category);
}

export interface Verdict {
  /** OpenAI's own `flagged`, for any of the inputs. */
  flaggedDefault: boolean;
  /** Flagged under the feature's policy (OpenAI's verdict when the feature has none). */
  flaggedPolicy: boolean;
  /** The categories the policy flags, in CATEGORIES order, with their highest score. */
  categories: Category[];
  scores: Partial<Record<Category, number>>;
}

/** One result of a moderation response, as OpenAI sends it (unknown fields ignored). */
export interface ModerationResult {
  flagged?: unknown;
  categories?: unknown;
  category_scores?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const score = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : undefined);

/**
 * The verdict over every result of a response (an array input has one result per item): a category
 * is flagged when any item's score reaches the policy's threshold (or OpenAI flagged it, where the
 * policy defers to OpenAI). Undefined when the body holds no results (not a moderation answer).
 */
export function verdictOf(results: unknown, policy?: Pick<ModerationPolicy, 'preset' | 'thresholds'>): Verdict | undefined {
  if (!Array.isArray(results) || results.length === 0) return undefined;
  let flaggedDefault = false;
  const flagged = new Set<Category>();
  const scores: Partial<Record<Category, number>> = {};
  for (const result of results) {
    if (!isObject(result)) continue;
    if (result.flagged === true) flaggedDefault = true;
    const booleans = isObject(result.categories) ? result.categories : {};
    const values = isObject(result.category_scores) ? result.category_scores : {};
    for (const category of CATEGORIES) {
      const s = score(values[category]);
      const threshold = policy ? thresholdOf(policy, category) : undefined;
      const hit = threshold === undefined ? booleans[category] === true : s !== undefined && s >= threshold;
      if (!hit) continue;
      flagged.add(category);
      if (s !== undefined) scores[category] = Math.max(scores[category] ?? 0, s);
    }
  }
  const categories = CATEGORIES.filter((c) => flagged.has(c));
  return { flaggedDefault, flaggedPolicy: categories.length > 0, categories, scores };
}

/** The response header an app reads the policy's verdict from. */
export function verdictHeader(verdict: Verdict): string {
  return verdict.flaggedPolicy ? `flagged; categories=${verdict.categories.join(',')}` : 'clean';
}
