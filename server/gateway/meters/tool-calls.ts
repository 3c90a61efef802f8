// Built-in tool calls of a Responses call, priced per call. A `web_search_call` item is the same for
// both web search tools; which one it was (and so its fee) is what the request's `tools` named.
import type { MeteredUsage, ToolCallKind } from '../../pricing/cost.js';
import type { ToolCallCounts } from './reading.js';
import type { RequestFields } from './meter.js';

export function withToolCalls(usage: MeteredUsage, counts: ToolCallCounts, request: RequestFields | undefined): MeteredUsage {
  const toolCalls: Partial<Record<ToolCallKind, number>> = {};
  if (counts.web_search > 0) toolCalls[webSearchKind(request)] = counts.web_search;
  if (counts.file_search > 0) toolCalls.file_search = counts.file_search;
  return { ...usage, toolCalls };
}

function webSearchKind(request: RequestFields | undefined): ToolCallKind {
  const tools = request?.tools;
  if (!Array.isArray(tools)) return 'web_search';
  let preview = false;
  for (const tool of tools) {
    const type = typeof tool === 'object' && tool !== null ? (tool as { type?: unknown }).type : undefined;
    if (type === 'web_search' || type === 'web_search_2025_08_26') return 'web_search';
    if (typeof type === 'string' && type.startsWith('web_search_preview')) preview = true;
  }
  return preview ? 'web_search_preview' : 'web_search';
}
