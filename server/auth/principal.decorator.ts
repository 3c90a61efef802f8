import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { GuardedRequest, Principal } from './principal.js';
import { OpenAIError } from '../http/openai-error.js';

/** Who is calling (set by AccessGuard) and from where: what every audit record needs. */
export interface Caller {
  principal: Principal;
  ip: string;
}

export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller => {
  const request = context.switchToHttp().getRequest<GuardedRequest>();
  // Only reachable on a @Public route by mistake: fail closed.
  if (!request.principal) throw new OpenAIError(401, 'Sign in first.', 'authentication_error', 'unauthenticated');
  return { principal: request.principal, ip: request.ip };
});
