/**
 * How the CLI prints: `--output table` (aligned columns for people, raw values for scripts) or
 * `--output json` (one JSON document, or one per line for `watch`). Keys and values are printed
 * as text when they are UTF-8, else as 0x-prefixed hex (table) or `...Base64` fields (json).
 */
import { isUtf8, utf8 } from '../client/index.js';

/** The output format. */
export type OutputFormat = 'table' | 'json';

/** Writes a line to stdout. */
export function println(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes `value` as JSON (pretty unless `compact`). */
export function printJson(value: unknown, compact = false): void {
  println(compact ? JSON.stringify(value) : JSON.stringify(value, null, 2));
}

/** Bytes for a table cell: text when printable UTF-8, else hex; control characters escaped. */
export function cell(bytes: Uint8Array): string {
  if (!isUtf8(bytes)) return `0x${Buffer.from(bytes).toString('hex')}`;
  const text = utf8(bytes);
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text) ? JSON.stringify(text) : text;
}

/** Prints rows under headers, columns padded to their widest cell. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  println(line(headers));
  for (const r of rows) println(line(r));
}
