import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The folder of pipectl's own package.json, whether running from sources or from `dist/`. */
export function packageRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'pipectl')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find pipectl's package.json above ${from}`);
    dir = up;
  }
}
