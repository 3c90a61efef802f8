// The one CSV writer, for the server's exports and the dashboard's own downloads: RFC 4180 (CRLF,
// quoted when needed) for the spreadsheets finance opens. Text a spreadsheet would run as a formula
// (model names, tags and feature names come from API callers) is prefixed with ' (OWASP's CSV
// injection advice); plain numbers, negative ones included, stay numbers. No imports: client/ uses it.

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;

export type CsvValue = string | number | bigint | boolean | Date | null | undefined;

/** One cell: '' for null, ISO for dates, formula-guarded and quoted text. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  let text = String(value);
  if (FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One line, CRLF-terminated. */
export const csvRow = (values: readonly unknown[]): string => values.map(csvField).join(',') + '\r\n';

/** A whole document: the header, then the rows. */
export const csvDocument = (header: readonly string[], rows: Iterable<readonly unknown[]>): string => {
  let out = csvRow(header);
  for (const row of rows) out += csvRow(row);
  return out;
};
