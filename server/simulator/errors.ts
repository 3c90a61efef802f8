// OpenAI's error body shape and the exact messages the real API uses for the errors the simulator reproduces.

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface SimulatedError {
  status: number;
  body: OpenAIErrorBody;
  headers?: Record<string, string>;
}

export function errorBody(message: string, type: string, param: string | null, code: string | null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** `sk-…abcd`: never echo a key back whole. */
export function maskKey(key: string): string {
  return key.length <= 8 ? '…' : `${key.slice(0, 3)}…${key.slice(-4)}`;
}

export function invalidApiKey(key: string): SimulatedError {
  const shown = key === '' ? '' : ` ${maskKey(key)}`;
  return {
    status: 401,
    body: errorBody(
      `Incorrect API key provided:${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      'invalid_request_error',
      null,
      'invalid_api_key',
    ),
  };
}

export function missingApiKey(): SimulatedError {
  return {
    status: 401,
    body: errorBody(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
        '(i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.',
      'invalid_request_error',
      null,
      null,
    ),
  };
}

export function mismatchedOrganization(): SimulatedError {
  return {
    status: 401,
    body: errorBody(
      'OpenAI-Organization header should match organization for API key',
      'invalid_request_error',
      null,
      'mismatched_organization',
    ),
  };
}

export function invalidRequest(message: string, param: string | null = null, code: string | null = null): SimulatedError {
  return { status: 400, body: errorBody(message, 'invalid_request_error', param, code) };
}

export function invalidJson(): SimulatedError {
  return invalidRequest(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library " +
      'correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble ' +
      'figuring out how to fix this, please contact us through our help center at help.openai.com.)',
  );
}

export function notFound(method: string, url: string): SimulatedError {
  return { status: 404, body: errorBody(`Invalid URL (${method} ${url})`, 'invalid_request_error', null, null) };
}

export function modelNotFound(model: string): SimulatedError {
  return {
    status: 404,
    body: errorBody(
      `The model '${model}' does not exist or you do not have access to it.`,
      'invalid_request_error',
      'model',
      'model_not_found',
    ),
  };
}

export function insufficientQuota(): SimulatedError {
  return {
    status: 429,
    body: errorBody(
      'You exceeded your current quota, please check your plan and billing details. For more information on this ' +
        'error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
      'insufficient_quota',
      null,
      'insufficient_quota',
    ),
  };
}

export function serverError(): SimulatedError {
  return {
    status: 500,
    body: errorBody(
      'The server had an error while processing your request. Sorry about that!',
      'server_error',
      null,
      'server_error',
    ),
  };
}

export function overloaded(): SimulatedError {
  return {
    status: 503,
    body: errorBody('The engine is currently overloaded, please try again later.', 'server_error', null, null),
  };
}

/** What a stream sends when it fails after the 200 went out. */
export const MID_STREAM_ERROR = errorBody(
  'The server had an error while processing your request.',
  'server_error',
  null,
  'server_error',
);

/** A stored object (file, batch, vector store, …) the org does not have. */
export function noSuchObject(kind: string, id: string, param: string | null = null): SimulatedError {
  return { status: 404, body: errorBody(`No such ${kind}: '${id}'`, 'invalid_request_error', param, null) };
}
