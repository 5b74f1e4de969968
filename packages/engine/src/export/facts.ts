/** Export step 1: what the image's rows say about it, checked once. */
import { METHODS, type Method } from '@imgport/format';
import { ImgportError } from '@imgport/runtime';
import type { ImageRows, Row } from '@imgport/tables';

/** What the osimage row says about the image, checked once. */
export interface ImageFacts {
  name: string;
  method: Method;
  os: string;
  arch: string;
  profile: string;
  rows: ImageRows;
}

/** A column's value, or undefined when NULL or empty (xCAT stores both). */
export function columnValue(row: Row, column: string): string | undefined {
  const v = row[column];
  return v === null || v === undefined || v === '' ? undefined : v;
}

export function imageFacts(name: string, rows: ImageRows): ImageFacts {
  const need = (column: string): string => {
    const v = columnValue(rows.osimage, column);
    if (v === undefined) throw new ImgportError('UNSUPPORTED', `image ${name}: osimage.${column} is not set`, { where: `osimage.${column}` });
    return v;
  };
  const method = need('provmethod');
  if (!(METHODS as readonly string[]).includes(method)) {
    throw new ImgportError('UNSUPPORTED', `image ${name}: osimage.provmethod "${method}" cannot be exported (expected install, netboot or statelite)`, {
      where: 'osimage.provmethod',
    });
  }
  return { name, method: method as Method, os: need('osvers'), arch: need('osarch'), profile: need('profile'), rows };
}
