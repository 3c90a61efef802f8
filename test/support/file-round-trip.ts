// A big file up and down through the official SDK's routes, streamed on the test's side too, with
// the growth of this process's RSS sampled meanwhile: the gateway and the simulator run in it.
import { createHash } from 'node:crypto';
import type OpenAI from 'openai';
import { expect } from 'vitest';

export interface RoundTripTarget {
  /** The API root the SDK uses, ending in /v1 (the simulator's url, or the gateway's + /v1). */
  baseURL: string;
  key: string;
  client: OpenAI;
}

/** Uploads `mb` MB as a streamed multipart body and downloads it again; the test holds 1 MB at a time. */
export async function fileRoundTrip(target: RoundTripTarget, mb: number): Promise<{ peakGrowth: number }> {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
  const boundary = '----roundtrip';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n--${boundary}\r\n` +
      'Content-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const sent = createHash('sha256');
  let sentChunks = 0;
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(head);
      },
      pull(controller) {
        if (sentChunks === mb) {
          controller.enqueue(tail);
          controller.close();
          return;
        }
        sent.update(chunk);
        sentChunks++;
        // The same bytes each time: the test itself must not allocate the whole file either.
        controller.enqueue(chunk);
      },
    });
    const uploaded = await fetch(`${target.baseURL}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(uploaded.status).toBe(200);
    const file = (await uploaded.json()) as { id: string; bytes: number };
    const size = mb * 1024 * 1024;
    expect(file.bytes).toBe(size);
    expect((await target.client.files.retrieve(file.id)).bytes).toBe(size);

    const download = await target.client.files.content(file.id);
    expect(download.headers.get('content-length')).toBe(String(size));
    const received = createHash('sha256');
    let receivedBytes = 0;
    for await (const part of download.body as unknown as AsyncIterable<Uint8Array>) {
      received.update(part);
      receivedBytes += part.length;
    }
    expect(receivedBytes).toBe(size);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    await target.client.files.delete(file.id);
  } finally {
    clearInterval(sampler);
  }
  return { peakGrowth: peak - before };
}
