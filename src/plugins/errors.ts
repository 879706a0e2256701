/**
 * The one error handler: every failure leaves as {statusCode, code, error, message}.
 * 4xx are logged at warn with the source address; 5xx details are logged, never returned.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors, type ZodFastifySchemaValidationError } from 'fastify-type-provider-zod';
import { AppError, DomainError, errorBody, fromDomain, type ErrorCode } from '../errors.js';
import { formatIssues, type Issue } from '../validation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The code a body failing the route's schema answers with (default INVALID_EVENT). */
    invalidBody?: ErrorCode;
  }
}

/** The validator reports a path as `/events/3/seq`; numeric steps are array indices again. */
function toIssue(v: ZodFastifySchemaValidationError): Issue {
  const steps = v.instancePath === '/' ? [] : v.instancePath.slice(1).split('/');
  return { path: steps.map((p) => (/^\d+$/.test(p) ? Number(p) : p)), message: v.message ?? 'invalid' };
}

/** A request part that failed its route schema: INVALID_PARAMS, INVALID_QUERY or the route's body code. */
function fromValidation(err: unknown, request: FastifyRequest | undefined): AppError | undefined {
  if (!hasZodFastifySchemaValidationErrors(err)) return undefined;
  const part = (err as FastifyError).validationContext;
  const input = part === 'body' ? request?.body : part === 'params' ? request?.params : request?.query;
  const code: ErrorCode =
    part === 'body'
      ? (request?.routeOptions.config.invalidBody ?? 'INVALID_EVENT')
      : part === 'params'
        ? 'INVALID_PARAMS'
        : 'INVALID_QUERY';
  return new AppError(code, formatIssues(err.validation.map(toIssue), input));
}

/** Fastify's own client errors, mapped into the catalog. */
function fromFastify(err: FastifyError): AppError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('BODY_TOO_LARGE', 'request body is larger than the limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type; send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('INVALID_JSON', 'request body is empty; expected JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('INVALID_JSON', `request body is not valid JSON`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('INVALID_JSON', 'Content-Length does not match the body');
    default:
      break;
  }
  if (err.statusCode === 413) return new AppError('BODY_TOO_LARGE', 'request body is larger than the limit');
  if (err.statusCode === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode === 400) return new AppError('INVALID_JSON', err.message);
  return undefined;
}

/** Any failure as a catalog error; `request` lets a schema failure name its field and code. */
export function toAppError(err: unknown, request?: FastifyRequest): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof DomainError) return fromDomain(err);
  return (
    fromValidation(err, request) ?? fromFastify(err as FastifyError) ?? new AppError('INTERNAL', 'internal error; see the receiver log')
  );
}

/** Sends an AppError with its headers. */
function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter));
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(errorBody(err));
}

function logFailure(request: FastifyRequest, err: AppError, cause: unknown): void {
  const fields = { code: err.code, statusCode: err.statusCode, address: request.ip, route: request.routeOptions.url };
  if (err.statusCode >= 500) request.log.error({ ...fields, err: cause }, err.message);
  else request.log.warn(fields, err.message);
}

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((cause, request, reply) => {
    const err = toAppError(cause, request);
    logFailure(request, err, cause);
    return sendError(reply, err);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`);
    logFailure(request, err, undefined);
    return sendError(reply, err);
  });
});
