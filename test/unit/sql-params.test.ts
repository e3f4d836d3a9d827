import { bindNamedParameters, WINDOW_PARAMETERS } from '../../core/sql-params';

describe('bindNamedParameters', () => {
  it('rewrites the window parameters to positions in order of appearance', () => {
    expect(bindNamedParameters('SELECT * FROM t WHERE at >= $windowStart AND at < $windowEnd')).toEqual({
      text: 'SELECT * FROM t WHERE at >= $1 AND at < $2',
      names: ['windowStart', 'windowEnd'],
    });
  });

  it('gives a repeated name the same position', () => {
    expect(bindNamedParameters('SELECT $b, $a, $b, $a, $c')).toEqual({
      text: 'SELECT $1, $2, $1, $2, $3',
      names: ['b', 'a', 'c'],
    });
  });

  it('ends a name at the first character that cannot be in it (casts, commas, parentheses)', () => {
    expect(bindNamedParameters('SELECT $windowStart::timestamptz::date, f($x),$y')).toEqual({
      text: 'SELECT $1::timestamptz::date, f($2),$3',
      names: ['windowStart', 'x', 'y'],
    });
  });

  it('keeps names that share a prefix apart', () => {
    expect(bindNamedParameters('SELECT $a_b1, $a, $a_b')).toEqual({
      text: 'SELECT $1, $2, $3',
      names: ['a_b1', 'a', 'a_b'],
    });
  });

  it('returns SQL without parameters unchanged', () => {
    expect(bindNamedParameters('SELECT 1')).toEqual({ text: 'SELECT 1', names: [] });
    expect(bindNamedParameters('')).toEqual({ text: '', names: [] });
  });

  it('skips string literals, including doubled quotes inside them', () => {
    expect(bindNamedParameters("SELECT '$notParam', 'it''s $neither', $x")).toEqual({
      text: "SELECT '$notParam', 'it''s $neither', $1",
      names: ['x'],
    });
  });

  it('skips quoted identifiers', () => {
    expect(bindNamedParameters('SELECT "$col", "a""$b" FROM t WHERE x = $v')).toEqual({
      text: 'SELECT "$col", "a""$b" FROM t WHERE x = $1',
      names: ['v'],
    });
  });

  it('skips line comments up to the end of the line', () => {
    expect(bindNamedParameters('SELECT 1 -- $commented\n, $real')).toEqual({
      text: 'SELECT 1 -- $commented\n, $1',
      names: ['real'],
    });
    expect(bindNamedParameters('SELECT $a -- $b')).toEqual({ text: 'SELECT $1 -- $b', names: ['a'] });
  });

  it('skips block comments', () => {
    expect(bindNamedParameters('SELECT /* $commented\n $1 */ $real')).toEqual({
      text: 'SELECT /* $commented\n $1 */ $1',
      names: ['real'],
    });
  });

  it('skips dollar-quoted bodies, anonymous and tagged', () => {
    expect(bindNamedParameters('SELECT $$ $body $1 $$, $e')).toEqual({
      text: 'SELECT $$ $body $1 $$, $1',
      names: ['e'],
    });
    expect(bindNamedParameters('SELECT $fn$ $body $$ $fn$, $e')).toEqual({
      text: 'SELECT $fn$ $body $$ $fn$, $1',
      names: ['e'],
    });
  });

  it('treats an unterminated string, comment or dollar quote as running to the end', () => {
    expect(bindNamedParameters("SELECT '$x")).toEqual({ text: "SELECT '$x", names: [] });
    expect(bindNamedParameters('SELECT /* $x')).toEqual({ text: 'SELECT /* $x', names: [] });
    expect(bindNamedParameters('SELECT $tag$ $x $tag')).toEqual({ text: 'SELECT $tag$ $x $tag', names: [] });
  });

  it('leaves a lone $ alone', () => {
    expect(bindNamedParameters('SELECT 1 WHERE a = $')).toEqual({ text: 'SELECT 1 WHERE a = $', names: [] });
  });

  it('rejects positional parameters, which would bypass the names', () => {
    expect(() => bindNamedParameters('SELECT * FROM t WHERE id = $1')).toThrow(
      'positional parameters ($1) are not supported: use $windowStart, $windowEnd or a named $param',
    );
    expect(() => bindNamedParameters('SELECT $a, $2')).toThrow(/positional parameters/);
  });

  it('allows $1 where it is only text', () => {
    expect(bindNamedParameters('SELECT \'$1\', "$1", $a -- $1')).toEqual({
      text: 'SELECT \'$1\', "$1", $1 -- $1',
      names: ['a'],
    });
  });

  // BUG (core/sql-params.ts): `$` may appear inside an identifier after its first character (SQL_IDENTIFIER in
  // core/identifiers.ts allows it), but the scanner reads `a$b` as the column `a` followed by a parameter `$b`.
  // Flip to `it` once fixed.
  it('leaves a $ inside an identifier alone', () => {
    expect(bindNamedParameters('SELECT price$eur FROM t')).toEqual({ text: 'SELECT price$eur FROM t', names: [] });
  });

  // BUG (core/sql-params.ts): in an escape string (E'...') a backslash escapes the quote, so E'\' $x' is one string;
  // the scanner ends the string at the escaped quote and binds $x inside it. Flip to `it` once fixed.
  it("skips escape strings with a backslash-escaped quote (E'\\'...')", () => {
    expect(bindNamedParameters("SELECT E'\\' $x', $y")).toEqual({ text: "SELECT E'\\' $x', $1", names: ['y'] });
  });
});

describe('WINDOW_PARAMETERS', () => {
  it('names the parameters every query can use', () => {
    expect(WINDOW_PARAMETERS).toEqual(['windowStart', 'windowEnd']);
  });
});
