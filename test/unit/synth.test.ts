// Synthetic sheets: reproducible bytes, requested sizes and formats, and a stain that is real
// (darkening concentrated around the plant material, absent from the clean twin of the same seed).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { QuicksilverError } from '../../common/src/errors.js';
import { renderSheet, syntheticSheets, writeSyntheticSet, type SheetTruth } from '../../common/src/synth/index.js';

async function grey(bytes: Buffer, width: number, height: number): Promise<Uint8Array> {
  return sharp(bytes).resize(width, height, { fit: 'fill' }).greyscale().raw().toBuffer();
}

/** Pixels within `radius` of a mask pixel (box dilation through an integral image). */
function dilate(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const integral = new Uint32Array((width + 1) * (height + 1));
  for (let y = 0; y < height; y++) {
    let row = 0;
    for (let x = 0; x < width; x++) {
      row += mask[y * width + x]!;
      integral[(y + 1) * (width + 1) + x + 1] = integral[y * (width + 1) + x + 1]! + row;
    }
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - radius);
    const y1 = Math.min(height, y + radius + 1);
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - radius);
      const x1 = Math.min(width, x + radius + 1);
      const sum = integral[y1 * (width + 1) + x1]! - integral[y0 * (width + 1) + x1]! - integral[y1 * (width + 1) + x0]! + integral[y0 * (width + 1) + x0]!;
      out[y * width + x] = sum > 0 ? 1 : 0;
    }
  }
  return out;
}

describe('synthetic sheets', () => {
  test('same seed and options give identical bytes; different seeds differ', { timeout: 30_000 }, async () => {
    const options = { seed: 1234, contaminated: true, width: 600, height: 800 };
    const first = await renderSheet(options);
    const second = await renderSheet(options);
    assert.ok(first.bytes.equals(second.bytes), 'same seed must give identical bytes');
    assert.deepEqual(first.truth, second.truth);
    const other = await renderSheet({ ...options, seed: 1235 });
    assert.ok(!first.bytes.equals(other.bytes), 'different seeds must differ');
    assert.notEqual(first.truth.barcode, other.truth.barcode);
    const defaults = await renderSheet({ seed: 7, contaminated: false });
    assert.ok(defaults.bytes.equals((await renderSheet({ seed: 7, contaminated: false })).bytes));
    assert.equal(defaults.truth.severity, 0);
    assert.ok(first.truth.severity > 0 && first.truth.severity <= 1);
  });

  test('sizes and formats are respected and decode with sharp', { timeout: 30_000 }, async () => {
    const defaults = await renderSheet({ seed: 3, contaminated: false });
    const meta = await sharp(defaults.bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 1500, 2000]);
    for (const [format, expected] of [['jpeg', 'jpeg'], ['png', 'png'], ['tiff', 'tiff']] as const) {
      const { bytes, truth } = await renderSheet({ seed: 5, contaminated: true, width: 333, height: 517, format });
      const decoded = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      assert.equal((await sharp(bytes).metadata()).format, expected);
      assert.deepEqual([decoded.info.width, decoded.info.height, decoded.info.channels], [333, 517, 3]);
      assert.deepEqual([truth.width, truth.height], [333, 517]);
    }
    await assert.rejects(renderSheet({ seed: 1, contaminated: false, width: 20_000 }), (error: unknown) =>
      error instanceof QuicksilverError && error.code === 'CONFIG_INVALID');
  });

  test('the stain darkens the sheet around the plant, not elsewhere', { timeout: 60_000 }, async () => {
    const width = 750;
    const height = 1000;
    let checked = 0;
    for (let seed = 100; checked < 3; seed++) {
      const stained = await renderSheet({ seed, contaminated: true, width, height });
      if (stained.truth.severity < 0.3) continue; // faint stains exist on purpose; check clearly visible ones
      const clean = await renderSheet({ seed, contaminated: false, width, height });
      const a = await grey(clean.bytes, width, height);
      const b = await grey(stained.bytes, width, height);
      // Material on the paper: pixels of the clean twin far from the paper colour (plant, and also label
      // text: the stain is not drawn there, so including it only makes the check weaker).
      const rgb = await sharp(clean.bytes).resize(width, height, { fit: 'fill' }).raw().toBuffer();
      const paper = [0, 1, 2].map((c) => {
        const sample = Array.from({ length: 2000 }, (_, k) => rgb[(Math.floor((k * a.length) / 2000)) * 3 + c]!).sort((x, y) => x - y);
        return sample[1000]!;
      });
      const plant = new Uint8Array(width * height);
      for (let y = Math.round(height * 0.05); y < Math.round(height * 0.97); y++) {
        for (let x = Math.round(width * 0.03); x < Math.round(width * 0.97); x++) {
          const i = (y * width + x) * 3;
          const distance = Math.abs(rgb[i]! - paper[0]!) + Math.abs(rgb[i + 1]! - paper[1]!) + Math.abs(rgb[i + 2]! - paper[2]!);
          if (distance > 60) plant[y * width + x] = 1;
        }
      }
      const nearPlant = dilate(plant, width, height, 70);
      let darkened = 0;
      let darkenedNearPlant = 0;
      let lightened = 0;
      for (let i = 0; i < a.length; i++) {
        const delta = b[i]! - a[i]!;
        if (delta < -12) {
          darkened++;
          darkenedNearPlant += nearPlant[i]!;
        } else if (delta > 12) {
          lightened++;
        }
      }
      assert.ok(darkened > 300, `seed ${seed} (severity ${stained.truth.severity}): only ${darkened} pixels darkened`);
      assert.ok(darkenedNearPlant / darkened > 0.9, `seed ${seed}: ${darkenedNearPlant}/${darkened} darkened pixels near the plant`);
      assert.ok(lightened < darkened / 5, `seed ${seed}: stain should darken (lightened ${lightened}, darkened ${darkened})`);
      checked++;
    }
  });

  test('a full-size 6700×9000 master renders within a bounded time', { timeout: 120_000 }, async () => {
    const started = performance.now();
    const { bytes, truth } = await renderSheet({ seed: 42, contaminated: true, width: 6700, height: 9000 });
    const seconds = (performance.now() - started) / 1000;
    const meta = await sharp(bytes).metadata();
    assert.deepEqual([meta.width, meta.height], [6700, 9000]);
    assert.equal(truth.width, 6700);
    assert.ok(seconds < 60, `6700×9000 took ${seconds.toFixed(1)} s`);
  });

  test('shift keeps the specimen and changes paper tone or lighting', { timeout: 30_000 }, async () => {
    const mean = async (bytes: Buffer) => (await sharp(bytes).stats()).channels.slice(0, 3).map((c) => c.mean);
    const base = await renderSheet({ seed: 9, contaminated: false, width: 300, height: 400 });
    for (const shift of ['paper-tone', 'illumination'] as const) {
      const shifted = await renderSheet({ seed: 9, contaminated: false, width: 300, height: 400, shift });
      assert.equal(shifted.truth.shift, shift);
      assert.equal(shifted.truth.barcode, base.truth.barcode);
      const [r0, g0, b0] = await mean(base.bytes);
      const [r1, g1, b1] = await mean(shifted.bytes);
      const distance = Math.hypot(r1! - r0!, g1! - g0!, b1! - b0!);
      assert.ok(distance > 8, `${shift} moved the mean colour by only ${distance.toFixed(1)}`);
    }
  });

  test('sets: barcode file names, labels from the seed, writeSyntheticSet writes images and truth.jsonl', { timeout: 60_000 }, async () => {
    const options = { count: 24, seed: 77, width: 200, height: 270 };
    const first: SheetTruth[] = [];
    const names = new Set<string>();
    for await (const sheet of syntheticSheets(options)) {
      assert.match(sheet.fileName, /^QS\d{8}\.jpg$/);
      assert.equal(sheet.truth.file, sheet.fileName);
      names.add(sheet.fileName);
      first.push(sheet.truth);
    }
    assert.equal(names.size, 24);
    const contaminated = first.filter((t) => t.contaminated).length;
    assert.ok(contaminated > 0 && contaminated < 24, `contaminated ${contaminated} of 24`);

    const dir = await mkdtemp(join(tmpdir(), 'qs-synth-'));
    try {
      const written = await writeSyntheticSet(dir, { ...options, format: 'png' });
      assert.deepEqual(written.map((t) => ({ ...t, file: t.file.replace('.png', '.jpg') })), first, 'same seed -> same set');
      const lines = (await readFile(join(dir, 'truth.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SheetTruth);
      assert.deepEqual(lines, written);
      const files = (await readdir(dir)).filter((f) => f.endsWith('.png'));
      assert.equal(files.length, 24);
      assert.equal((await sharp(join(dir, files[0]!)).metadata()).width, 200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
