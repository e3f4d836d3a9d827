import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { ROOT } from './spawn';

/** Where browser tests keep their screenshots (git-ignored). */
export const ARTIFACTS_DIR = join(ROOT, 'test', 'artifacts');

/** Debian's Chromium, or the executable `PIPECTL_CHROMIUM` names. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.PIPECTL_CHROMIUM || '/usr/bin/chromium';
  try {
    accessSync(path, constants.X_OK);
  } catch {
    const where = env.PIPECTL_CHROMIUM ? `PIPECTL_CHROMIUM=${path}` : path;
    throw new Error(
      `no Chromium at ${where}: the Web UI test needs a real headless Chromium. ` +
        "Install Debian's (`apt-get install chromium`) or set PIPECTL_CHROMIUM to a Chromium executable.",
    );
  }
  return path;
}

/**
 * A headless Chromium with a fresh, empty profile. The flags keep it quiet on a machine without internet (no update,
 * sync or background requests) and let it run as root. Call `close()` at the end: it stops the browser and removes
 * the profile.
 */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const executablePath = chromiumPath();
  const profile = mkdtempSync(join(tmpdir(), 'pipectl-chromium-'));
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1600, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    .catch((err: unknown) => {
      rmSync(profile, { recursive: true, force: true });
      throw err;
    });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The path for a screenshot named `web-ui-<name>.png` in the artifacts folder, which it creates. */
export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return join(ARTIFACTS_DIR, `web-ui-${name}.png`);
}
