/**
 * Named parameters in SQL (`$windowStart`, `$name`) rewritten to PostgreSQL's positional `$1`, skipping string
 * literals, quoted identifiers, dollar-quoted bodies and comments. Values are bound; only a COPY, which takes no
 * parameters, gets them as literals quoted by the driver (see `activities/postgres/steps.ts`).
 */

/** The rewritten SQL and the parameter names in positional order. */
export interface BoundSql {
  text: string;
  names: string[];
}

/**
 * Rewrites `$name` placeholders to `$1`, `$2`, … — or to what `placeholder` returns for each (its position from 1 and
 * its name). Throws on a positional `$1`, which would bypass the names.
 */
export function bindNamedParameters(
  sql: string,
  placeholder: (position: number, name: string) => string = (position) => `$${position}`,
): BoundSql {
  const names: string[] = [];
  const index = new Map<string, number>();
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    const prev = i > 0 ? sql[i - 1]! : '';
    if (c === "'" || c === '"') {
      // E'...' strings treat a backslash as escaping the next character.
      const escapes = c === "'" && /[Ee]/.test(prev) && !/[A-Za-z0-9_$]/.test(i > 1 ? sql[i - 2]! : '');
      let j = i + 1;
      while (j < n) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && next === '-') {
      const j = sql.indexOf('\n', i);
      const end = j === -1 ? n : j;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '/' && next === '*') {
      const j = sql.indexOf('*/', i + 2);
      const end = j === -1 ? n : j + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '$' && /[A-Za-z0-9_$]/.test(prev)) {
      // `$` inside an identifier (price$eur) is part of the name, not a parameter.
      out += c;
      i++;
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        const end = close === -1 ? n : close + tag[0].length;
        out += sql.slice(i, end);
        i = end;
        continue;
      }
      const name = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i));
      if (name) {
        const key = name[1]!;
        let pos = index.get(key);
        if (pos === undefined) {
          names.push(key);
          pos = names.length;
          index.set(key, pos);
        }
        out += placeholder(pos, key);
        i += name[0].length;
        continue;
      }
      if (/^\$\d/.test(sql.slice(i))) {
        throw new Error('positional parameters ($1) are not supported: use $windowStart, $windowEnd or a named $param');
      }
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return { text: out, names };
}

/** Parameters every query can use. */
export const WINDOW_PARAMETERS = ['windowStart', 'windowEnd'] as const;
