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

/** Body-parsing failures reach us as Fastify errors or as Nest's HttpException mapping of them. */
const PARSE_ERRORS: Record<number, { message: string; code: string }> = {
  413: { message: 'Request body is larger than this gateway accepts (see BODY_LIMIT_BYTES).', code: 'request_too_large' },
  415: { message: 'Unsupported content-type: send application/json (or multipart/form-data for audio).', code: 'unsupported_media_type' },
};

export function toOpenAIError(exception: unknown): OpenAIError {
  if (exception instanceof OpenAIError) return exception;
  const known = exception as { statusCode?: number; code?: string; message?: string };
  const status = exception instanceof HttpException ? exception.getStatus() : known.statusCode;
  if (typeof status !== 'number' || status >= 500) {
    return new OpenAIError(500, 'The gateway had an internal error while processing your request.', 'server_error', 'internal_error', null, true);
  }
  if (PARSE_ERRORS[status]) return new OpenAIError(status, PARSE_ERRORS[status].message, 'invalid_request_error', PARSE_ERRORS[status].code);
  let message = known.message ?? 'Bad request';
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    if (typeof response === 'object' && response && 'message' in response) message = [response.message].flat().join('; ');
  }
  if (known.code?.startsWith('FST_ERR_CTP') || /JSON/.test(message)) {
    return new OpenAIError(400, 'We could not parse the JSON body of your request. The request body must be valid JSON.', 'invalid_request_error', 'invalid_json');
  }
  const type = status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : 'invalid_request_error';
  return new OpenAIError(status, message, type, status === 404 ? 'not_found' : null);
}
