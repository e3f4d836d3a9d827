/** Exit codes: 0 success; 1 the user's input was wrong or the run failed; 2 infrastructure or a bug. */
export const EXIT = { ok: 0, user: 1, failedRun: 1, infrastructure: 2 } as const;

/** A mistake in what the user asked; printed without a stack, exit 1. */
export class UserError extends Error {
  override name = 'UserError';
}

/** A run that ended unsuccessfully; the CLI reports it and exits 1. */
export class RunFailedError extends Error {
  override name = 'RunFailedError';
}
