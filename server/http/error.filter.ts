import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { OpenAIError } from './openai-error.js';

/** Maps any error a route throws to OpenAI's error shape; never leaks stack traces or internals. */
@Catch()
export class OpenAIErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const error = toOpenAIError(exception);
    if (error.status >= 500) this.logger.error(exception instanceof Error ? exception.message : String(exception));
    // A streamed reply may already be under way: the only safe thing left is to end it.
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.end();
      return;
    }
    void reply.code(error.status).headers(error.responseHeaders()).send(error.body());
  }
}

export function toOpenAIError(exception: unknown): OpenAIError {
  if (exception instanceof OpenAIError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const message =
      typeof response === 'object' && response && 'message' in response
        ? [response.message].flat().join('; ')
        : exception.message;
    const type = status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
    return new OpenAIError(status, message, type, status === 404 ? 'not_found' : null);
  }
  const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    return fastifyErrorToOpenAI(fastifyError.statusCode, fastifyError.code, fastifyError.message ?? 'Bad request');
  }
  return new OpenAIError(500, 'The gateway had an internal error while processing your request.', 'server_error', 'internal_error', null, true);
}

function fastifyErrorToOpenAI(status: number, code: string | undefined, message: string): OpenAIError {
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OpenAIError(413, 'Request body is larger than this gateway accepts (see BODY_LIMIT_BYTES).', 'invalid_request_error', 'request_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OpenAIError(415, 'Unsupported content-type: send application/json (or multipart/form-data for audio).', 'invalid_request_error', 'unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new OpenAIError(400, 'We could not parse the JSON body of your request. The request body must be valid JSON.', 'invalid_request_error', 'invalid_json');
    default:
      return new OpenAIError(status, message, 'invalid_request_error', null);
  }
}
