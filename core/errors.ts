/**
 * The one error type of Outpost. Every failure a user or operator can see is an OutpostError with a
 * stable `code` (documented in docs/errors.md), a message that says what was wrong, where, and what
 * to do, and optional structured `details`. HTTP status is derived from the code at one place
 * (`httpStatusFor`), so domain modules never think about HTTP.
 */

export const ERROR_CODES = {
  // configuration and input
  CONFIG_INVALID: 500,
  SERVER_ALREADY_RUNNING: 409,
  PORT_IN_USE: 409,
  INPUT_INVALID: 400,
  NOT_FOUND: 404,
  // store
  STORE_MIGRATION_FAILED: 500,
  // engine
  ENGINE_UNAVAILABLE: 503,
  ENGINE_PROVISION_FAILED: 500,
  ENGINE_UNSUPPORTED_HOST: 500,
  IMAGE_MISSING: 503,
  IMAGE_BUILD_FAILED: 500,
  // sandbox
  SANDBOX_UNKNOWN_USER: 404,
  SANDBOX_INVALID_USER: 400,
  SANDBOX_PATH_ESCAPE: 400,
  SANDBOX_PATH_INVALID: 400,
  SANDBOX_FILE_NOT_FOUND: 404,
  SANDBOX_FILE_EXISTS: 409,
  SANDBOX_FILE_CONFLICT: 409,
  SANDBOX_FILE_TOO_LARGE: 413,
  SANDBOX_NOT_A_FILE: 400,
  SANDBOX_NOT_A_DIRECTORY: 400,
  SANDBOX_QUOTA_EXCEEDED: 507,
  SANDBOX_WORKSPACE_UNAVAILABLE: 503,
  SANDBOX_AGENT_FAILED: 502,
  SANDBOX_EXEC_INVALID: 400,
  // accounts, sessions, audit
  AUTH_REQUIRED: 401,
  AUTH_INVALID_CREDENTIALS: 401,
  AUTH_LOCKED: 429,
  AUTH_FORBIDDEN: 403,
  AUTH_CSRF_FAILED: 403,
  AUTH_PASSWORD_CHANGE_REQUIRED: 403,
  AUTH_WEAK_PASSWORD: 400,
  USER_EXISTS: 409,
  USER_NOT_FOUND: 404,
  COHORT_NOT_FOUND: 404,
  ROSTER_INVALID: 400,
  // fake internet
  NETWORK_SETUP_FAILED: 500,
  SERVICE_UNAVAILABLE: 503,
  DNS_ZONE_INVALID: 400,
  PKI_FAILED: 500,
  MIRROR_INVALID: 400,
  MIRROR_NOT_FOUND: 404,
  MIRROR_IMPORT_FAILED: 500,
  PACKAGES_INVALID: 400,
  PACKAGES_FETCH_FAILED: 502,
  // git repositories (fake-internet/git/repos.ts)
  GIT_REPO_NOT_FOUND: 404,
  GIT_REPO_EXISTS: 409,
  GIT_REF_INVALID: 400,
  GIT_REF_NOT_FOUND: 404,
  GIT_PATH_INVALID: 400,
  GIT_PATH_NOT_FOUND: 404,
  GIT_NOT_A_FILE: 400,
  GIT_NOT_A_DIRECTORY: 400,
  GIT_TEMPLATE_INVALID: 400,
  GIT_TOO_LARGE: 413,
  // curriculum and grading
  CURRICULUM_INVALID: 400,
  CURRICULUM_NOT_FOUND: 404,
  EXERCISE_NOT_FOUND: 404,
  SUBMISSION_INVALID: 400,
  SUBMISSION_NOT_FOUND: 404,
  ATTEMPTS_EXHAUSTED: 409,
  SUBMISSION_SAVE_FAILED: 500,
  GRADER_FAILED: 500,
  // browser IDE
  IDE_SESSION_NOT_FOUND: 404,
  IDE_LIMIT_REACHED: 429,
  IDE_BUILD_FAILED: 500,
  IDE_PREVIEW_UNAVAILABLE: 502,
  // the shop (shop/)
  SHOP_REQUEST_NOT_FOUND: 404,
  SHOP_PROJECT_NOT_FOUND: 404,
  SHOP_ATTACHMENT_NOT_FOUND: 404,
  SHOP_ATTACHMENT_TOO_LARGE: 413,
  SHOP_ATTACHMENT_TYPE: 415,
  SHOP_STATE_INVALID: 409,
  SHOP_TEAM_INVALID: 400,
  SHOP_HOURS_INVALID: 400,
  SHOP_PACKAGE_NOT_FOUND: 404,
  SHOP_PACKAGE_FAILED: 500,
  SHOP_PREVIEW_UNAVAILABLE: 503,
  // offline update bundles (server/bundles.ts)
  BUNDLE_INVALID: 400,
  BUNDLE_UNSAFE_ENTRY: 400,
  BUNDLE_MANIFEST_INVALID: 400,
  BUNDLE_SIGNATURE_INVALID: 400,
  BUNDLE_KEY_UNKNOWN: 400,
  BUNDLE_CHECKSUM_MISMATCH: 400,
  BUNDLE_CONTENTS_MISMATCH: 400,
  BUNDLE_NOT_FOUND: 404,
  BUNDLE_STATE_INVALID: 409,
  BUNDLE_KEY_INVALID: 400,
  BUNDLE_KEY_EXISTS: 409,
  BUNDLE_KEY_NOT_FOUND: 404,
  BUNDLE_EXPORT_FAILED: 500,
  // generic
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class OutpostError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutpostError';
    this.code = code;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function httpStatusFor(error: unknown): number {
  return error instanceof OutpostError ? ERROR_CODES[error.code] : 500;
}

export function isOutpostError(error: unknown, code?: ErrorCode): error is OutpostError {
  return error instanceof OutpostError && (code === undefined || error.code === code);
}

/** Wraps an unknown failure so callers always get an OutpostError; keeps the original as `cause`. */
export function asOutpostError(error: unknown, code: ErrorCode = 'INTERNAL', message?: string): OutpostError {
  if (error instanceof OutpostError) return error;
  const text = message ?? (error instanceof Error ? error.message : String(error));
  return new OutpostError(code, text, { cause: error });
}
