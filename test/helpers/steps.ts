import type { StepContext } from '../../core/pipeline-spec';

/**
 * An extract that never returns rows: it says it started, then waits until its step is cancelled, counts the abort
 * and fails with its reason (a test of cancellation waits for `started`, cancels, and checks `aborted`).
 */
export function extractUntilAborted(hooks: { started(): void; aborted(): void }) {
  return async ({ signal }: StepContext): Promise<never> => {
    hooks.started();
    return new Promise<never>((_, reject) => {
      signal.addEventListener(
        'abort',
        () => {
          hooks.aborted();
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  };
}
