/**
 * The one error handler: every failure leaves as {statusCode, code, error, message}.
 * 4xx are logged at warn with the source address; 5xx details are logged, never returned.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, DomainError, errorBody, fromDomain } from '../errors.js';

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

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof DomainError) return fromDomain(err);
  return fromFastify(err as FastifyError) ?? new AppError('INTERNAL', 'internal error; see the receiver log');
}

/** Sends an AppError with its headers; shared by the error handler and routes that answer early. */
export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
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
    const err = toAppError(cause);
    logFailure(request, err, cause);
    return sendError(reply, err);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`);
    logFailure(request, err, undefined);
    return sendError(reply, err);
  });
});
