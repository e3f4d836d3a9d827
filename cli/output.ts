/** Terminal output: colour only on a TTY (and never with NO_COLOR), JSON for machines. */

const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;

function paint(code: number) {
  return (text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
}

export const style = {
  bold: paint(1),
  dim: paint(2),
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  cyan: paint(36),
};

/** True when progress lines may be redrawn in place. */
export const interactive = process.stdout.isTTY === true;

/** Prints a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Aligns rows of cells into columns. */
export function table(rows: string[][]): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\u001b\[\d+m/g, '').length;
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell))));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visible(cell)))).join('  '),
    )
    .join('\n');
}
