// Watches a multipart audio upload as it streams through to OpenAI: counts bytes against the
// limit, reads the small form fields (model, response_format) and measures the audio's duration
// from the file's bytes with music-metadata. The upload itself is never held in memory.
import { Transform, type TransformCallback } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { Busboy } from '@fastify/busboy';
import { parseStream } from 'music-metadata';
import { AUDIO_SECONDS_MAX, saturate } from '../../ledger/bounds.js';
import { OpenAIError } from '../../http/openai-error.js';

const FIELDS = new Set(['model', 'response_format', 'language', 'stream']);
/** After the upload ends, how long measurement may still take before the event is written without it. */
const SETTLE_TIMEOUT_MS = 2_000;

export class UploadTooLargeError extends Error {
  readonly code = 'TALLYGATE_BODY_TOO_LARGE';
}

export class AudioUploadMeter {
  readonly fields: Record<string, string> = {};
  readonly body: Transform;
  bytes = 0;
  private duration?: Promise<number | undefined>;
  private parserFailed = false;

  constructor(headers: IncomingHttpHeaders, limitBytes: number, extraFields?: readonly string[]) {
    let parser: ReturnType<typeof Busboy>;
    try {
      parser = Busboy({ headers: headers as IncomingHttpHeaders & { 'content-type': string }, limits: { fieldSize: 64 * 1024, fields: 64, files: 4 } });
    } catch (error) {
      // No boundary, or not multipart at all: OpenAI could not read it either, and a retry cannot help.
      throw new OpenAIError(
        400,
        `The upload could not be read as multipart/form-data (${(error as Error).message}). Send the file as a form, as the OpenAI SDK does (Content-Type: multipart/form-data; boundary=...).`,
        'invalid_request_error',
        'invalid_multipart',
      );
    }
    parser.on('field', (name: string, value: string) => {
      if (FIELDS.has(name) || extraFields?.includes(name)) this.fields[name] = value;
    });
    parser.on('file', (name: string, file: NodeJS.ReadableStream & { resume(): void }, filename: string, _encoding: string, mimeType: string) => {
      if (name !== 'file' || this.duration) {
        file.resume();
        return;
      }
      this.duration = parseStream(file as never, { mimeType, path: filename }, { duration: true, skipCovers: true })
        // A header may claim any length (92,508,250 s was seen): bounded before pricing, as reported ones are.
        .then(({ format }) => (format.duration === undefined ? undefined : saturate(format.duration, AUDIO_SECONDS_MAX)))
        .catch(() => undefined)
        // Whatever music-metadata did not need is drained so the parser keeps up with the upload.
        .finally(() => file.resume());
    });
    // Metering is best effort: a form the parser cannot read still goes to OpenAI, which judges it.
    parser.on('error', () => (this.parserFailed = true));

    this.body = new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) => {
        this.bytes += chunk.length;
        if (this.bytes > limitBytes) return done(new UploadTooLargeError(`upload exceeds ${limitBytes} bytes`));
        if (!this.parserFailed) parser.write(chunk);
        done(null, chunk);
      },
      flush: (done: TransformCallback) => {
        if (!this.parserFailed) parser.end();
        done();
      },
    });
  }

  /** Seconds of audio, or undefined when the format could not be read. */
  async durationSeconds(): Promise<number | undefined> {
    if (!this.duration) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), SETTLE_TIMEOUT_MS)));
    try {
      return await Promise.race([this.duration, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
