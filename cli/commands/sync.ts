import type { Command } from 'commander';

/** Options of `pipectl sync`. */
interface SyncOptions {
  dir?: string;
  dryRun?: boolean;
  prune?: boolean;
  json?: boolean;
}

/** `pipectl sync`: makes the Temporal Schedules match the groups of the definitions. */
export function registerSync(program: Command): void {
  program
    .command('sync')
    .description(
      'make the Temporal Schedules match the definitions: print a plan (create/update/unchanged/delete), apply it',
    )
    .option('-d, --dir <folder>', 'folder of pipeline definitions (default: $PIPECTL_PIPELINES_DIR or ./pipelines)')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--prune', "delete pipectl's Schedules of groups no longer defined (never anyone else's)")
    .option('--json', 'print the plan and the results as JSON')
    .addHelpText('after', '\nExamples:\n  pipectl sync --dry-run\n  pipectl sync --prune\n  pipectl sync --json')
    .action(async (opts: SyncOptions) => {
      const { catalogFor, commandSettings } = await import('../context');
      const { connectClient } = await import('../runs');
      const { applySync, awaitListed, planCounts, planSync } = await import('../sync');
      const { printJson, style } = await import('../output');
      const s = commandSettings(opts);
      // Invalid definitions throw a CatalogError listing every problem before the server is touched.
      const catalog = catalogFor(s);
      const client = await connectClient(s);
      try {
        const plan = await planSync(client, catalog, s.taskQueue, { prune: opts.prune === true });
        const results = opts.dryRun ? [] : await applySync(client, plan);
        const unlisted = await awaitListed(client, plan, results);
        if (unlisted.length > 0) {
          process.stderr.write(
            `note: the server's Schedule list does not show ${unlisted.length} change(s) yet (${unlisted.slice(0, 3).join(', ')}): wait a moment before the next sync\n`,
          );
        }
        const counts = planCounts(plan.entries);
        if (opts.json) {
          printJson({ dryRun: opts.dryRun === true, namespace: s.namespace, plan: plan.entries, counts, results });
          return;
        }
        const mark: Record<string, string> = {
          create: style.green('+ create   '),
          update: style.yellow('~ update   '),
          unchanged: style.dim('= unchanged'),
          delete: style.red('- delete   '),
          keep: style.dim('· keep     '),
          foreign: style.dim('! not ours '),
        };
        const lines = [style.bold(`Plan (namespace ${s.namespace}):`)];
        for (const e of plan.entries) {
          let detail = '';
          if (e.action === 'create') detail = `${e.schedule}; ${e.pipelines!.join(', ')}`;
          const inside = e.pausedPipelines?.length ? `; ${e.pausedPipelines.join(', ')} paused inside` : '';
          if (e.action === 'update')
            detail = `${e.changes!.join(', ')} changed${e.paused ? '; stays paused' : ''}${inside ? `${inside}, kept` : ''}`;
          if (e.action === 'unchanged') detail = `${e.paused ? 'paused' : ''}${inside}`.replace(/^; /, '');
          if (e.action === 'keep') detail = 'group no longer defined; left alone (use --prune to delete it)';
          if (e.action === 'foreign') detail = 'exists but was not created by pipectl; left alone';
          lines.push(`  ${mark[e.action]} ${e.scheduleId}${detail ? `  (${detail})` : ''}`);
        }
        lines.push(
          `${counts.create} to create, ${counts.update} to update, ${counts.unchanged} unchanged, ${counts.delete} to delete` +
            (counts.keep ? `, ${counts.keep} left alone` : ''),
        );
        if (opts.dryRun) lines.push('Dry run: nothing changed.');
        else {
          const changed = results.filter((r) => r.outcome === 'done' && r.action !== 'unchanged').length;
          lines.push(style.green(`✓ applied: ${changed} change${changed === 1 ? '' : 's'}`));
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await client.connection.close();
      }
    });
}
