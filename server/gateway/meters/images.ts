// Images (generations, edits, variations). gpt-image models report token usage (text and image
// input, image output), on the body or on the `*.completed` event of a stream; dall-e models report
// none and are priced per image by the size and quality the REQUEST asked for (n images each).
import { INT4_MAX } from '../../ledger/bounds.js';
import type { MeteredUsage } from '../../pricing/cost.js';
import { EMPTY_USAGE } from './reading.js';
import { str, type EndpointMeter, type Metered, type RequestFields } from './meter.js';

/** OpenAI's defaults when the request leaves them out (API reference, images). */
const DEFAULT_MODEL = 'dall-e-2';
const DEFAULT_SIZE = '1024x1024';

export const IMAGES_METER: EndpointMeter = {
  formFields: ['model', 'n', 'size', 'quality'],
  finish(request, reading): Metered {
    const model = str(request.model) ?? DEFAULT_MODEL;
    const usage = reading.usage;
    if (usage && (usage.inputTokens > 0 || usage.outputTokens > 0)) {
      // gpt-image: every output token is an image token unless the usage says otherwise.
      const priced: MeteredUsage = usage.imageOutputTokens === undefined ? { ...usage, imageOutputTokens: usage.outputTokens } : usage;
      return { usage: priced, model };
    }
    return { usage: perImage(request, model), model };
  },
};

/** dall-e: n images of the requested size and quality (dall-e-3 defaults to standard; dall-e-2 has one quality). */
function perImage(request: RequestFields, model: string): MeteredUsage {
  const raw = Number(request.n ?? 1);
  const count = Number.isInteger(raw) && raw > 0 ? Math.min(raw, INT4_MAX) : 1;
  const size = str(request.size) ?? DEFAULT_SIZE;
  const quality = str(request.quality) ?? (model === 'dall-e-3' ? 'standard' : undefined);
  return { ...EMPTY_USAGE, images: [{ size, quality, count }] };
}

/** The `size/quality` (or `size`) the images were priced at, as the ledger stores it. */
export function imageSpec(usage: MeteredUsage | undefined): { count: number; spec: string } | undefined {
  const first = usage?.images?.[0];
  if (!first) return undefined;
  return { count: first.count, spec: first.quality ? `${first.size}/${first.quality}` : first.size };
}
