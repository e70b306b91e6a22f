/**
 * Errors as Attune's API answers them: a status and `{error, code}` JSON
 * (`crates/api/src/middleware/error.rs`).
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }

  get code(): string {
    return CODES[this.statusCode] ?? 'INTERNAL_SERVER_ERROR'
  }
}

const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'VALIDATION_ERROR',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
}

export const badRequest = (message: string) => new ApiError(400, message)
export const unauthorized = (message: string) => new ApiError(401, message)
export const forbidden = (message: string) => new ApiError(403, message)
export const notFound = (message: string) => new ApiError(404, message)

export function errorBody(status: number, message: string): {error: string; code: string} {
  return {error: message, code: CODES[status] ?? 'INTERNAL_SERVER_ERROR'}
}
