/**
 * The loop of a row transform (`transformRow`) over one staged chunk, shared by the worker's own thread and the
 * threads of `transformThreads`.
 */
import type { Row, StepContext, TransformRowFn } from '../core/pipeline-spec';
import { rowReader, type CopyChunk } from './staged-chunk';

/** What a transformRow that returned something other than rows is told. */
export const INVALID_ROW_RESULT = 'transformRow must return a row (an object), an array of rows, or null';

const isRow = (r: unknown): r is Row => r !== null && typeof r === 'object' && !Array.isArray(r);

/**
 * Reads each row of `chunk`, transforms it and hands each output row to `add` before reading the next, so no chunk of
 * row objects is held. `add` returns a promise when the caller must wait (a chunk to write); `invalid` makes the error
 * for a result that is not rows.
 */
export async function transformChunkRows(
  fn: TransformRowFn,
  chunk: CopyChunk | Row[],
  ctx: StepContext,
  add: (row: Row) => Promise<void> | undefined,
  invalid: () => Error,
): Promise<void> {
  const nextRow = rowReader(chunk);
  for (let row = nextRow(); row; row = nextRow()) {
    let result = fn(row, ctx);
    if (result instanceof Promise) {
      result = await result;
      // A transform that waits (an async transformRow) stops at its next row once the step is cancelled.
      ctx.signal.throwIfAborted();
    }
    if (result === null || result === undefined) continue;
    if (Array.isArray(result)) {
      for (const r of result) {
        if (!isRow(r)) throw invalid();
        const wait = add(r);
        if (wait) await wait;
      }
    } else if (isRow(result)) {
      const wait = add(result);
      if (wait) await wait;
    } else throw invalid();
  }
}
