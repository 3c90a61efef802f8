// The one CSV writer (server/contract/csv.ts) the server's exports and the dashboard's downloads share.
import { describe, expect, it } from 'vitest';
import { csvDocument, csvField, csvRow } from '../../server/contract/csv.js';

describe('csvField: the formula guard', () => {
  it.each([
    ['=HYPERLINK("https://evil.example","click")', `"'=HYPERLINK(""https://evil.example"",""click"")"`],
    ['=1+1', "'=1+1"],
    ['+cmd|/C calc', "'+cmd|/C calc"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1:A9)', "'@SUM(A1:A9)"],
    ['\tleading tab', "'\tleading tab"],
    ['\rleading CR', `"'\rleading CR"`],
  ])('prefixes %j with a quote', (input, expected) => {
    expect(csvField(input)).toBe(expected);
  });

  it('leaves ordinary text, plain numbers (negative ones too) and text with a formula sign inside alone', () => {
    expect(csvField('gpt-4o-mini')).toBe('gpt-4o-mini');
    expect(csvField('a=b')).toBe('a=b');
    expect(csvField('-0.000123')).toBe('-0.000123');
    expect(csvField('+12')).toBe('+12');
    expect(csvField(-5)).toBe('-5');
    expect(csvField(12345678901234567890n)).toBe('12345678901234567890');
  });
});

describe('csvField: quoting (RFC 4180)', () => {
  it('quotes cells with commas, quotes, CR or LF and doubles inner quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
  });

  it('writes null and undefined as empty, dates as ISO, booleans as words', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(new Date(Date.UTC(2025, 2, 1)))).toBe('2025-03-01T00:00:00.000Z');
    expect(csvField(true)).toBe('true');
  });

  it('ends every row with CRLF, and a document is its header then its rows', () => {
    expect(csvRow(['a', 1, null])).toBe('a,1,\r\n');
    expect(csvDocument(['model', 'cost_usd'], [['=evil()', '-1.5'], ['gpt-4o', '2']])).toBe("model,cost_usd\r\n'=evil(),-1.5\r\ngpt-4o,2\r\n");
  });
});
