import type { Command } from 'commander';
import { z } from 'zod';

/** Options of `pipectl codec-server`. */
export const CodecServerCommandOptions = z.object({
  /** Port to listen on. */
  port: z.coerce.number().int('a whole number').min(0, 'a port number').max(65535, 'a port number'),
  /** Interface to listen on. */
  host: z.string().min(1),
  /** Web UI origins allowed to call the server from a browser. */
  corsOrigin: z
    .array(z.string().refine((o) => /^https?:\/\/[^/\s]+$/.test(o), 'an origin like http://localhost:8233 (no path)'))
    .default([]),
});
export type CodecServerCommandOptions = z.infer<typeof CodecServerCommandOptions>;

/** `pipectl codec-server`: decodes (and encodes) pipectl's encrypted payloads over HTTP for the Temporal Web UI. */
export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description(
      "serve Temporal's remote codec endpoint (POST /encode, /decode) with the keys of PIPECTL_CODEC_KEYS or PIPECTL_CODEC_KEYS_FILE, so the Web UI shows decrypted payloads to whoever can reach it",
    )
    .option('-p, --port <port>', 'port to listen on', '8888')
    .option('--host <host>', 'interface to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option(
      '--cors-origin <origin...>',
      'Web UI origin(s) allowed to call it from a browser, e.g. http://localhost:8233',
    )
    .addHelpText(
      'after',
      '\nSet PIPECTL_CODEC_AUTH_TOKEN to require "Authorization: Bearer <token>" on every request.\n' +
        'Examples:\n  pipectl codec-server --cors-origin http://localhost:8233\n' +
        '  PIPECTL_CODEC_ENDPOINT=http://localhost:8888 pipectl dev   # the dev Web UI decodes through it',
    )
    .action(async (raw: Record<string, unknown>) => {
      const { UserError } = await import('../errors');
      const parsed = CodecServerCommandOptions.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new UserError(
          `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`,
        );
      }
      const opts = parsed.data;
      const { settings, SettingsError } = await import('../../temporal-config/settings');
      const { EncryptionCodec, startCodecServer } = await import('../../temporal-config/codec');
      const s = settings();
      if (!s.codecKeys)
        throw new SettingsError(
          'no codec keys: set PIPECTL_CODEC_KEYS (id:base64key,...) or PIPECTL_CODEC_KEYS_FILE to the keys pipectl encrypts with',
        );
      const server = await startCodecServer(new EncryptionCodec(s.codecKeys), {
        port: opts.port,
        host: opts.host,
        corsOrigins: opts.corsOrigin,
        ...(s.codecAuthToken ? { authToken: s.codecAuthToken } : {}),
      });
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const ids = Object.keys(s.codecKeys.keys).map((id) =>
        id === s.codecKeys!.encryptWith ? `${id} (encrypts)` : id,
      );
      log(`codec server listening on ${server.url} (POST /encode, /decode; keys: ${ids.join(', ')}); Ctrl-C to stop`);
      if (opts.corsOrigin.length) log(`  browsers may call it from ${opts.corsOrigin.join(', ')}`);
      if (!s.codecAuthToken && !['127.0.0.1', 'localhost', '::1'].includes(opts.host))
        log(`  warning: anyone who can reach ${server.url} can decrypt payloads; set PIPECTL_CODEC_AUTH_TOKEN`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      log('codec server stopped');
    });
}
