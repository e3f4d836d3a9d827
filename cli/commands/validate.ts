import type { Command } from 'commander';

/** `pipectl validate`: checks every definition without a server. */
export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check every pipeline definition (schema, names, dependencies, cycles) without a server')
    .option('-d, --dir <folder>', 'folder of pipeline definitions (default: $PIPECTL_PIPELINES_DIR or ./pipelines)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dir?: string; json?: boolean }) => {
      const { readCatalog } = await import('../../catalog/load');
      const { formatIssue } = await import('../../catalog/issues');
      const { commandSettings } = await import('../context');
      const { printJson, style } = await import('../output');
      const s = commandSettings(opts);
      const { catalog, issues } = readCatalog(s.pipelinesDir);
      const external = [...catalog.graph.externalDatasets.entries()].map(([dataset, readers]) => ({
        dataset,
        readers,
      }));
      const empty = catalog.pipelines.size === 0 && issues.length === 0;
      if (opts.json) {
        printJson({
          valid: issues.length === 0 && !empty,
          dir: s.pipelinesDir,
          pipelines: [...catalog.pipelines.values()].map((e) => ({ name: e.spec.name, file: e.file })),
          externalDatasets: external,
          issues,
        });
      } else if (empty) {
        process.stderr.write(`no pipeline definitions under ${s.pipelinesDir}\n`);
      } else if (issues.length > 0) {
        process.stderr.write(
          `${style.red(`${issues.length} problem${issues.length === 1 ? '' : 's'}`)} in ${s.pipelinesDir}:\n`,
        );
        for (const issue of issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
      } else {
        process.stdout.write(
          `${style.green('✓')} ${catalog.pipelines.size} pipeline${catalog.pipelines.size === 1 ? '' : 's'} valid in ${s.pipelinesDir}` +
            ` (${catalog.graph.edges.length} dependenc${catalog.graph.edges.length === 1 ? 'y' : 'ies'})\n`,
        );
        for (const { dataset, readers } of external) {
          process.stdout.write(`  external dataset ${dataset} (read by ${readers.join(', ')})\n`);
        }
      }
      if (issues.length > 0 || empty) process.exitCode = 1;
    });
}
