// Structured JSON logs (pino) for Nest and Fastify alike. Request logs carry Fastify's request id
// and never bodies or headers; known secret shapes are masked if one ever reaches a message.
import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

const SECRET = /\b(sk-[A-Za-z0-9_-]{4,}|tga?-[A-Za-z0-9_-]{8,}|Bearer\s+\S+)/g;
export const redactSecrets = (text: string) =>
  text.replace(SECRET, (s) => (s.startsWith('Bearer') ? 'Bearer ***' : `${s.slice(0, 3)}…${s.slice(-4)}`));

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tallygate' },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '***' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>);
      },
    },
  });
}

/** Nest's boot chatter (module and route listings) is debug detail, not operational news. */
const BOOT_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    if (context && BOOT_CONTEXTS.has(context)) this.logger.debug({ context }, String(message));
    else this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}
