import { Option, type Command } from 'commander';
// Pure and small, so loaded eagerly; the catalog (tsx, zod, the definitions) is loaded only when the command runs.
import { GRAPH_FORMATS, toDot, toJson, toMermaid, toText, type GraphFormat } from '../../core/graph-format';

/** Options of `pipectl graph`. */
interface GraphOptions {
  dir?: string;
  format: GraphFormat;
  json?: boolean;
}

/** `pipectl graph`: prints the pipeline DAG of the definitions folder, without a server. */
export function registerGraph(program: Command): void {
  program
    .command('graph')
    .description('print the pipeline DAG (dependency order, datasets, external inputs) as text, Mermaid, dot or JSON')
    .option('-d, --dir <folder>', 'folder of pipeline definitions (default: $PIPECTL_PIPELINES_DIR or ./pipelines)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(GRAPH_FORMATS).default('text'))
    .addOption(new Option('--json', 'print the graph as JSON (same as --format json)').conflicts('format'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  pipectl graph\n' +
        '  pipectl graph --format mermaid > pipelines.mmd\n' +
        '  pipectl graph --format dot | dot -Tsvg > pipelines.svg\n' +
        "  pipectl graph --json | jq '.pipelines[] | {name, descendants}'",
    )
    .action(async (opts: GraphOptions) => {
      const { catalogFor, commandSettings } = await import('../context');
      const { printJson } = await import('../output');
      // Invalid definitions throw a CatalogError listing every problem; the CLI prints them and exits 1.
      const { graph, pipelines } = catalogFor(commandSettings(opts));
      const format = opts.json ? 'json' : opts.format;
      if (format === 'json') printJson(toJson(graph, pipelines));
      else process.stdout.write({ text: toText, mermaid: toMermaid, dot: toDot }[format](graph, pipelines));
    });
}
