/**
 * The one escaping helper of the console: every value interpolated into an `html` template is
 * escaped unless it is already Html (built by another `html` template). Templates are small
 * typed functions returning Html; nothing else writes markup.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Value = Html | string | number | boolean | null | undefined | readonly Value[];

/** Text for element content and quoted attribute values. */
export function esc(v: string): string {
  return v.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!);
}

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return esc(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** A path segment for a URL inside an attribute (html`` then escapes the result). */
export const seg = (s: string): string => encodeURIComponent(s);
