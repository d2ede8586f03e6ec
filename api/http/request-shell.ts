import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Middleware } from 'koa';
import { AppError, ErrorCode } from '../../domain/errors';
import type { ApiState } from './context';
import { errorBody } from './errors';

/**
 * The HTTP shell's own refusals, before any route sees the request: what the API does not speak
 * is refused with a 4xx (or 501) in the error shape, so nothing malformed reaches a handler.
 */

/** The methods the routers implement; any other is 501 (RFC 9110 §15.6.2), before auth or routing. */
export const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const METHODS = new Set<string>(API_METHODS);

/** Methods whose requests carry no body here (the body parser reads POST, PUT and PATCH only). */
const BODILESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/** Keys that reach for an object's prototype: refused anywhere in a body or a query. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Before the body parser: the method, the query, and how the body is sent. Bodies are JSON,
 * uncompressed (phones send small bodies; accepting compressed ones would add a zip bomb to
 * defend against and a decoder whose failures must all be mapped).
 */
export function refuseWhatWeDoNotSpeak(): Middleware<ApiState> {
  return async (ctx, next) => {
    if (!METHODS.has(ctx.method)) {
      ctx.set('Allow', API_METHODS.join(', '));
      throw new AppError(ErrorCode.MethodNotImplemented, `this API does not implement ${ctx.method}`);
    }
    for (const [key, value] of Object.entries(ctx.query)) {
      if (PROTOTYPE_KEYS.has(key)) throw new AppError(ErrorCode.ValidationFailed, `query parameter "${key}" is not accepted`);
      if (Array.isArray(value)) throw new AppError(ErrorCode.ValidationFailed, `query parameter "${key}" is repeated`);
    }
    const encoding = ctx.get('Content-Encoding').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'identity') {
      ctx.set('Accept-Encoding', 'identity');
      throw new AppError(ErrorCode.UnsupportedMediaType, 'request bodies are accepted uncompressed only (no Content-Encoding)');
    }
    // A body on a method that takes none would be ignored, so the request would act without it.
    if (hasBody(ctx.req.headers) && BODILESS.has(ctx.method)) {
      throw new AppError(ErrorCode.ValidationFailed, `a ${ctx.method} request carries no body`);
    }
    if (hasBody(ctx.req.headers) && !ctx.is('application/json')) {
      throw new AppError(ErrorCode.UnsupportedMediaType, 'request bodies are JSON: send Content-Type: application/json');
    }
    // The body is read as UTF-8 whatever it claims (JSON is UTF-8: RFC 8259 §8.1); another claim is refused, not misread.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(ctx.get('Content-Type'))?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      throw new AppError(ErrorCode.UnsupportedMediaType, 'request bodies are UTF-8 JSON');
    }
    await next();
  };
}

function prototypeKeyIn(value: unknown, depth = 0): string | null {
  if (value === null || typeof value !== 'object' || depth > 32) return null;
  for (const key of Object.keys(value)) {
    if (PROTOTYPE_KEYS.has(key)) return key;
    const inner = prototypeKeyIn((value as Record<string, unknown>)[key], depth + 1);
    if (inner) return inner;
  }
  return null;
}

/** After the body parser: a body, when there is one, is a JSON object with no prototype keys. */
export function requireObjectBodies(): Middleware<ApiState> {
  return async (ctx, next) => {
    const body: unknown = ctx.request.body;
    if (hasBody(ctx.req.headers) && body !== undefined) {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new AppError(ErrorCode.ValidationFailed, 'the body must be a JSON object');
      }
      const key = prototypeKeyIn(body);
      if (key) throw new AppError(ErrorCode.ValidationFailed, `the key "${key}" is not accepted`);
    }
    await next();
  };
}

/**
 * Requests Node's parser refuses before Koa sees them (an unknown method such as BREW, a broken
 * request line or header) still get the error shape instead of Node's bare 400.
 */
export function answerUnparseableRequests(server: Server): Server {
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, reason, code, message] =
      err.code === 'HPE_INVALID_METHOD'
        ? [501, 'Not Implemented', ErrorCode.MethodNotImplemented, 'this API does not implement that method']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', ErrorCode.ValidationFailed, 'the request headers are too large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', ErrorCode.ValidationFailed, 'the request took too long to arrive']
            : [400, 'Bad Request', ErrorCode.ValidationFailed, 'the request is not valid HTTP'];
    const body = JSON.stringify(errorBody(code, message));
    const allow = status === 501 ? `Allow: ${API_METHODS.join(', ')}\r\n` : '';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${allow}Connection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
