/**
 * Run in a child process by file-steps.test.ts: a CSV write into `<dir>` whose input fails while a chunk is being
 * written. Prints how the write ended; an error that escapes the promise kills the process, as it would a worker.
 */
import { csv } from '../../index';
import { writeFileRows } from '../../activities/files';
import { FileWriteStep, type Row } from '../../core/pipeline-spec';
import { parseWindow } from '../../core/window';

const dir = process.argv[2];
if (!dir) throw new Error('usage: write-breaks-off.ts <dir>');

/** More than the file stream's buffer: writing it waits for 'drain', so the stream is open and idle afterwards. */
const bigChunk = Array.from({ length: 2_000 }, (_, i) => ({ id: i + 2, v: 'x'.repeat(50) }));

async function* breaksOff(): AsyncGenerator<Row[]> {
  yield bigChunk;
  // This chunk's write is handed to the file system; the failure comes before it completes.
  yield [{ id: -1, v: 'in flight' }];
  throw new Error('source broke off');
}

const step = FileWriteStep.parse(csv.write('orders.csv'));
writeFileRows(step, parseWindow('2026-11-20'), breaksOff(), dir).then(
  () => process.stdout.write('resolved\n'),
  (err: Error) => process.stdout.write(`rejected: ${err.message}\n`),
);
