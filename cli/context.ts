import { resolve } from 'node:path';
import { readCatalog, type Catalog } from '../catalog/load';
import { CatalogError } from '../catalog/issues';
import { settings, type Settings } from '../temporal-config/settings';
import { UserError } from './errors';

/** Options every command that reads definitions accepts. */
export interface CatalogOptions {
  /** Folder of definitions (`--dir`), overriding `PIPECTL_PIPELINES_DIR`. */
  dir?: string;
}

/** Settings with the command's `--dir` applied. */
export function commandSettings(opts: CatalogOptions): Settings {
  const s = settings();
  if (opts.dir) return { ...s, pipelinesDir: resolve(opts.dir) };
  return s;
}

/** Loads and validates the catalog, throwing the full list of problems. */
export function catalogFor(s: Settings): Catalog {
  const { catalog, issues } = readCatalog(s.pipelinesDir);
  if (issues.length > 0) throw new CatalogError(issues);
  if (catalog.pipelines.size === 0) throw new UserError(`no pipeline definitions under ${s.pipelinesDir}`);
  return catalog;
}
