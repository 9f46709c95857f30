import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { barcodeFromFileName } from '../../agent/src/barcode.js';

describe('barcodeFromFileName', { timeout: 5_000 }, () => {
  const cases: Array<[string, string]> = [
    ['QS00012345.jpg', 'QS00012345'],
    ['QS00012345.JPG', 'QS00012345'],
    ['MICH_1390992_front.tif', 'MICH1390992'],
    ['US-00123456.tiff', 'US00123456'],
    ['us00123456.png', 'US00123456'],
    ['/var/hot/QS00012345_2.jpg', 'QS00012345'],
    ['QS00012345', 'QS00012345'],
    ['scan-17.png', ''], // too few digits
    ['00012345.jpg', ''], // no letters
    ['QS00012345x.jpg', ''], // digits not followed by a separator
    ['SEVENLTR00012345.jpg', ''], // prefix longer than 6 letters
    ['notes.txt', ''],
  ];
  for (const [fileName, expected] of cases) {
    it(`${fileName} -> '${expected}'`, () => assert.equal(barcodeFromFileName(fileName), expected));
  }
});
