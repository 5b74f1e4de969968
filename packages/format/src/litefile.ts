/**
 * litefile.csv: rows of xCAT's `litefile` table (image, file, options, comments, disable) in
 * tabdump's CSV: fields in double quotes ("" inside), empty fields bare, an optional
 * `#image,file,options,comments,disable` header. Stock imgexport writes `"img","file","opt",,`.
 */
import { ImgportError } from '@imgport/runtime';
import { quote } from './util.js';

export const LITEFILE_COLUMNS = ['image', 'file', 'options', 'comments', 'disable'] as const;

export interface LitefileRow {
  image: string;
  file: string;
  options: string;
  comments: string;
  disable: string;
}

function bad(n: number, problem: string): never {
  const where = `litefile.csv line ${n}`;
  throw new ImgportError('MANIFEST_INVALID', `${where}: ${problem}`, { where });
}

/** Splits one CSV line into fields; quotes may only wrap a whole field. */
function splitCsv(line: string, n: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      for (i++; ; i++) {
        if (i >= line.length) bad(n, 'unterminated quoted field');
        if (line[i] === '"' && line[i + 1] === '"') field += line[i++];
        else if (line[i] === '"') break;
        else field += line[i];
      }
      i++;
      if (i < line.length && line[i] !== ',') bad(n, `unexpected ${quote(line[i] ?? '')} after a closing quote`);
    } else {
      const end = line.indexOf(',', i);
      field = line.slice(i, end < 0 ? line.length : end);
      if (field.includes('"')) bad(n, `a quote inside an unquoted field ${quote(field)}`);
      i += field.length;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/**
 * Rows in file order. `imageName`, when given, replaces every row's image: stock imgimport files
 * the rows under the imported image's name whatever the CSV says. A later row for the same
 * (image, file) key replaces an earlier one, as xCAT's setAttribs does.
 */
export function parseLitefileCsv(text: string, imageName?: string): LitefileRow[] {
  const rows = new Map<string, LitefileRow>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    const n = i + 1;
    const fields = splitCsv(line, n);
    if (fields.length < 2 || fields.length > LITEFILE_COLUMNS.length) {
      bad(n, `expected 2 to 5 fields (${LITEFILE_COLUMNS.join(',')}), found ${fields.length}`);
    }
    const [image = '', file = '', options = '', comments = '', disable = ''] = fields;
    if (file === '') bad(n, 'the file field is empty');
    const row = { image: imageName ?? image, file, options, comments, disable };
    rows.set(`${row.image}\0${row.file}`, row);
  });
  return [...rows.values()];
}

function field(value: string, always: boolean): string {
  if (/[\r\n]/.test(value)) {
    throw new ImgportError('MANIFEST_INVALID', `litefile.csv: a field cannot hold a line break: ${quote(value)}`);
  }
  return value === '' && !always ? '' : `"${value.replace(/"/g, '""')}"`;
}

/**
 * One line per row. image, file and options are always quoted: stock imgimport splits lines on
 * '"' and reads fields 3 and 5, so an unquoted empty options would shift them. The header is
 * off by default for the same reason (stock imgimport would read it as a row).
 */
export function formatLitefileCsv(rows: Iterable<LitefileRow>, opts: { header?: boolean } = {}): string {
  const lines = opts.header ? [`#${LITEFILE_COLUMNS.join(',')}`] : [];
  for (const r of rows) {
    lines.push(
      [field(r.image, true), field(r.file, true), field(r.options, true), field(r.comments, false), field(r.disable, false)].join(','),
    );
  }
  return lines.map((l) => `${l}\n`).join('');
}
