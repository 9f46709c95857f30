// Barcode from a scanner file name. Rule (documented in docs/agent.md): the base name must start
// with 2-6 letters, an optional '-' or '_', then 4 or more digits, followed by the end of the name,
// '.', '_' or '-'. The barcode is the letters (upper-cased) and digits without the separator:
//   QS00012345.jpg -> QS00012345    MICH_1390992_front.tif -> MICH1390992    scan-17.png -> ''
import { basename } from 'node:path';

const BARCODE_AT_START = /^([A-Za-z]{2,6})[-_]?(\d{4,})(?=$|[._-])/;

/** The specimen barcode a file name carries, or '' when it carries none. */
export function barcodeFromFileName(fileName: string): string {
  const match = BARCODE_AT_START.exec(basename(fileName));
  return match ? `${match[1].toUpperCase()}${match[2]}` : '';
}
