// One synthetic herbarium sheet, drawn as an SVG and rendered by sharp (librsvg).
// Geometry lives in a resolution-free space 1000 units wide (height = 1000 × height/width), so a
// seed gives the same sheet at any pixel size. No fonts are used (label "text" is drawn as word
// bars), so the bytes depend only on the seed, the options and the bundled libvips/librsvg.
//
// Contamination (mercuric chloride) is drawn as the literature describes it: grey-to-black halos
// around plant material, speckles and small crystalline deposits, concentrated in a few hot spots
// and scaled by a severity in (0, 1] that is sometimes faint. Clean sheets share every benign
// confounder (dark brown leaves, foxing, dust, water stains, grey smudges away from the plant).
import sharp from 'sharp';
import { QuicksilverError } from '../errors.js';
import { Random, hash32 } from './random.js';

export type SheetFormat = 'jpeg' | 'png' | 'tiff';
export type SheetShift = 'none' | 'paper-tone' | 'illumination';
export const SHEET_SHIFTS: readonly SheetShift[] = ['none', 'paper-tone', 'illumination'];
export const SHEET_FORMATS: readonly SheetFormat[] = ['jpeg', 'png', 'tiff'];

/** Ground truth of one synthetic sheet (one line of truth.jsonl). */
export interface SheetTruth {
  file: string;
  barcode: string;
  contaminated: boolean;
  /** 0 for clean sheets; (0, 1] for contaminated ones (how strongly the stain shows). */
  severity: number;
  seed: number;
  width: number;
  height: number;
  shift: string;
}

export interface RenderSheetOptions {
  seed: number;
  contaminated: boolean;
  /** Pixels; default 1500 × 2000. Real masters are about 6,737 × 9,050. */
  width?: number;
  height?: number;
  format?: SheetFormat;
  /** JPEG/TIFF quality, default 90. */
  quality?: number;
  /** Acquisition drift for experiments: same specimen, different paper tone or lighting. */
  shift?: SheetShift;
}

export const DEFAULT_SHEET_WIDTH = 1500;
export const DEFAULT_SHEET_HEIGHT = 2000;
export const MAX_SHEET_SIDE = 10_000;
const UNITS = 1000;

interface Point { x: number; y: number }
interface Anchor { at: Point; angle: number }

/** The plant drawn on a sheet, with the places tapes and stains attach to. */
interface Plant {
  /** SVG path data of every stem/blade and its stroke width, for halos. */
  stems: Array<{ d: string; width: number; points: Point[] }>;
  leaves: Array<{ d: string; centre: Point }>;
  /** Points on the plant material (stain hot spots are chosen among them). */
  material: Point[];
  /** Candidate tape positions (angle = stem direction). */
  anchors: Anchor[];
  svg: string[];
}

const f = (n: number): string => n.toFixed(2);

function hslHex(h: number, s: number, l: number): string {
  const sat = Math.min(1, Math.max(0, s / 100));
  const light = Math.min(1, Math.max(0, l / 100));
  const k = (n: number): number => (n + h / 30) % 12;
  const a = sat * Math.min(light, 1 - light);
  const channel = (n: number): number => {
    const value = light - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
    return Math.round(value * 255);
  };
  return `#${[channel(0), channel(8), channel(4)].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function cubic(p0: Point, p1: Point, p2: Point, p3: Point, t: number): Point {
  const u = 1 - t;
  return {
    x: u * u * u * p0.x + 3 * u * u * t * p1.x + 3 * u * t * t * p2.x + t * t * t * p3.x,
    y: u * u * u * p0.y + 3 * u * u * t * p1.y + 3 * u * t * t * p2.y + t * t * t * p3.y,
  };
}

const direction = (angle: number): Point => ({ x: Math.sin(angle), y: -Math.cos(angle) });
const along = (p: Point, angle: number, length: number): Point => {
  const d = direction(angle);
  return { x: p.x + d.x * length, y: p.y + d.y * length };
};

interface Bounds { left: number; top: number; right: number; bottom: number }
const inside = (p: Point, b: Bounds): boolean => p.x >= b.left && p.x <= b.right && p.y >= b.top && p.y <= b.bottom;

/** A curved stem from `base`, shortened until it fits the bounds; returns path data and samples. */
function curvedStem(rng: Random, base: Point, angle: number, bend: number, length: number, bounds: Bounds) {
  let len = length;
  for (let attempt = 0; ; attempt++) {
    const p1 = along(base, angle, len / 3);
    const p2 = along(p1, angle + bend, len / 3);
    const p3 = along(p2, angle + bend * 2.2 + rng.range(-0.1, 0.1), len / 3);
    const points = Array.from({ length: 9 }, (_, i) => cubic(base, p1, p2, p3, i / 8));
    if (points.every((p) => inside(p, bounds)) || attempt === 6) {
      const angles = points.map((_, i) => {
        const q = points[Math.min(i + 1, points.length - 1)]!;
        const r = points[Math.max(i - 1, 0)]!;
        return Math.atan2(q.x - r.x, -(q.y - r.y));
      });
      return { d: `M${f(base.x)} ${f(base.y)}C${f(p1.x)} ${f(p1.y)} ${f(p2.x)} ${f(p2.y)} ${f(p3.x)} ${f(p3.y)}`, points, angles };
    }
    len *= 0.8;
  }
}

type Palette = { hue: [number, number]; sat: [number, number]; light: [number, number] };
const PLANT_PALETTES: Palette[] = [
  { hue: [65, 95], sat: [22, 45], light: [24, 40] }, // green
  { hue: [38, 58], sat: [25, 45], light: [26, 42] }, // olive-brown
  { hue: [20, 36], sat: [28, 50], light: [18, 32] }, // brown
  { hue: [15, 32], sat: [18, 38], light: [8, 16] }, // nearly black-brown: the hard negatives
  { hue: [42, 55], sat: [30, 50], light: [52, 68] }, // pale straw
];

function plantColour(rng: Random, palette: Palette, jitter = 1): string {
  return hslHex(
    rng.range(...palette.hue) + rng.range(-4, 4) * jitter,
    rng.range(...palette.sat),
    rng.range(...palette.light) + rng.range(-3, 3) * jitter,
  );
}

function drawLeaf(rng: Random, plant: Plant, base: Point, angle: number, length: number, width: number, colour: string, rib: string): void {
  const tip = along(base, angle, length);
  const mid = along(base, angle, length * rng.range(0.35, 0.55));
  const normal = direction(angle + Math.PI / 2);
  const bulge = width * rng.range(0.9, 1.1);
  const c1 = { x: mid.x + normal.x * bulge, y: mid.y + normal.y * bulge };
  const c2 = { x: mid.x - normal.x * bulge * rng.range(0.8, 1.1), y: mid.y - normal.y * bulge * rng.range(0.8, 1.1) };
  const d = `M${f(base.x)} ${f(base.y)}Q${f(c1.x)} ${f(c1.y)} ${f(tip.x)} ${f(tip.y)}Q${f(c2.x)} ${f(c2.y)} ${f(base.x)} ${f(base.y)}Z`;
  plant.svg.push(`<path d="${d}" fill="${colour}" stroke="${rib}" stroke-width="0.5"/>`,
    `<path d="M${f(base.x)} ${f(base.y)}L${f(tip.x)} ${f(tip.y)}" stroke="${rib}" stroke-width="${f(Math.max(0.5, width * 0.06))}" opacity="0.7"/>`);
  const centre = along(base, angle, length / 2);
  plant.leaves.push({ d, centre });
  plant.material.push(centre, along(base, angle, length * 0.8));
}

function drawRoots(rng: Random, plant: Plant, base: Point, colour: string): void {
  const count = rng.int(4, 14);
  for (let i = 0; i < count; i++) {
    let p = base;
    let angle = Math.PI + rng.range(-1.1, 1.1);
    let d = `M${f(p.x)} ${f(p.y)}`;
    for (let s = rng.int(3, 7); s > 0; s--) {
      angle += rng.range(-0.5, 0.5);
      p = along(p, angle, rng.range(5, 14));
      d += `L${f(p.x)} ${f(p.y)}`;
    }
    plant.svg.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="${f(rng.range(0.6, 1.8))}" stroke-linejoin="round"/>`);
  }
  plant.material.push(base);
}

/** Grass or sedge: blades fanning from a base, spikes at some tips, often roots. */
function grassPlant(rng: Random, plant: Plant, bounds: Bounds, palette: Palette, H: number): void {
  const base = { x: rng.range(280, 720), y: rng.range(H * 0.62, H * 0.8) };
  const blades = rng.int(5, 22);
  const spikeColour = hslHex(rng.range(25, 45), rng.range(25, 50), rng.range(30, 55));
  for (let i = 0; i < blades; i++) {
    const angle = rng.normal() * 0.35;
    const stem = curvedStem(rng, { x: base.x + rng.range(-12, 12), y: base.y }, angle, rng.normal() * 0.25, rng.range(H * 0.3, H * 0.72), bounds);
    const width = rng.range(2.5, 9);
    const colour = plantColour(rng, palette);
    plant.svg.push(`<path d="${stem.d}" fill="none" stroke="${colour}" stroke-width="${f(width)}" stroke-linecap="round"/>`);
    if (width > 5) plant.svg.push(`<path d="${stem.d}" fill="none" stroke="#ffffff" stroke-opacity="0.12" stroke-width="${f(width * 0.25)}"/>`);
    plant.stems.push({ d: stem.d, width, points: stem.points });
    plant.material.push(...stem.points.slice(1));
    for (let k = 2; k < 8; k += 2) plant.anchors.push({ at: stem.points[k]!, angle: stem.angles[k]! });
    if (rng.chance(0.3)) {
      const tip = stem.points[8]!;
      const angleDeg = (stem.angles[8]! * 180) / Math.PI;
      const rx = rng.range(4, 9);
      const ry = rng.range(14, 34);
      plant.svg.push(`<ellipse cx="${f(tip.x)}" cy="${f(tip.y)}" rx="${f(rx)}" ry="${f(ry)}" fill="${spikeColour}" transform="rotate(${f(angleDeg)} ${f(tip.x)} ${f(tip.y)})"/>`);
      for (let d = 0; d < 12; d++) {
        plant.svg.push(`<circle cx="${f(tip.x + rng.normal() * rx * 0.5)}" cy="${f(tip.y + rng.normal() * ry * 0.4)}" r="${f(rng.range(0.6, 1.6))}" fill="#3a2a18" opacity="0.5"/>`);
      }
    }
  }
  if (rng.chance(0.55)) drawRoots(rng, plant, base, plantColour(rng, PLANT_PALETTES[3]!));
}

/** Broad-leaved herb: one or two stems with alternate leaves. */
function herbPlant(rng: Random, plant: Plant, bounds: Bounds, palette: Palette, H: number): void {
  const stems = rng.int(1, 2);
  for (let s = 0; s < stems; s++) {
    const base = { x: rng.range(300, 650) + s * 80, y: rng.range(H * 0.75, H * 0.86) };
    const stem = curvedStem(rng, base, rng.normal() * 0.12, rng.normal() * 0.12, rng.range(H * 0.5, H * 0.75), bounds);
    const width = rng.range(2.5, 7);
    const stemColour = plantColour(rng, palette);
    plant.svg.push(`<path d="${stem.d}" fill="none" stroke="${stemColour}" stroke-width="${f(width)}" stroke-linecap="round"/>`);
    plant.stems.push({ d: stem.d, width, points: stem.points });
    plant.material.push(...stem.points);
    for (let k = 1; k < 8; k += 3) plant.anchors.push({ at: stem.points[k]!, angle: stem.angles[k]! });
    const leafLength = rng.range(70, 190);
    const leafWidth = leafLength * rng.range(0.18, 0.4);
    const rib = plantColour(rng, PLANT_PALETTES[3]!);
    for (let k = 2; k <= 8; k++) {
      const at = stem.points[k]!;
      const side = k % 2 === 0 ? 1 : -1;
      const scale = 1 - (k - 2) * 0.07;
      const angle = stem.angles[k]! + side * rng.range(0.6, 1.3);
      const petiole = along(at, angle, rng.range(3, 12));
      plant.svg.push(`<path d="M${f(at.x)} ${f(at.y)}L${f(petiole.x)} ${f(petiole.y)}" stroke="${stemColour}" stroke-width="${f(width * 0.5)}"/>`);
      drawLeaf(rng, plant, petiole, angle, leafLength * scale, leafWidth * scale, plantColour(rng, palette), rib);
      if (rng.chance(0.3)) drawLeaf(rng, plant, petiole, angle - side * 0.6, leafLength * scale * 0.6, leafWidth * scale * 0.6, plantColour(rng, palette), rib);
    }
    if (rng.chance(0.4)) drawRoots(rng, plant, base, rib);
  }
}

/** Branched plant (panicle or fern-like): a main axis with side branches carrying small leaflets. */
function branchedPlant(rng: Random, plant: Plant, bounds: Bounds, palette: Palette, H: number): void {
  const axes = rng.int(1, 3);
  for (let a = 0; a < axes; a++) {
    const base = { x: rng.range(250, 700), y: rng.range(H * 0.7, H * 0.85) };
    const main = curvedStem(rng, base, rng.normal() * 0.3, rng.normal() * 0.15, rng.range(H * 0.45, H * 0.7), bounds);
    const width = rng.range(2, 5);
    const colour = plantColour(rng, palette);
    plant.svg.push(`<path d="${main.d}" fill="none" stroke="${colour}" stroke-width="${f(width)}" stroke-linecap="round"/>`);
    plant.stems.push({ d: main.d, width, points: main.points });
    plant.material.push(...main.points);
    plant.anchors.push({ at: main.points[2]!, angle: main.angles[2]! }, { at: main.points[5]!, angle: main.angles[5]! });
    for (let k = 2; k <= 8; k++) {
      const side = rng.chance(0.5) ? 1 : -1;
      const branch = curvedStem(rng, main.points[k]!, main.angles[k]! + side * rng.range(0.4, 1.0), side * rng.range(0, 0.2), rng.range(40, 140), bounds);
      plant.svg.push(`<path d="${branch.d}" fill="none" stroke="${colour}" stroke-width="${f(width * 0.5)}"/>`);
      plant.stems.push({ d: branch.d, width: width * 0.5, points: branch.points });
      plant.material.push(branch.points[4]!, branch.points[8]!);
      for (let j = 1; j <= 8; j++) {
        const leafAngle = branch.angles[j]! + (j % 2 === 0 ? 1 : -1) * rng.range(0.4, 0.9);
        const length = rng.range(6, 22);
        const leaf = along(branch.points[j]!, leafAngle, length / 2);
        plant.svg.push(`<ellipse cx="${f(leaf.x)}" cy="${f(leaf.y)}" rx="${f(length * 0.22)}" ry="${f(length / 2)}" fill="${plantColour(rng, palette)}" transform="rotate(${f((leafAngle * 180) / Math.PI)} ${f(leaf.x)} ${f(leaf.y)})"/>`);
      }
    }
  }
}

function drawPlant(rng: Random, H: number): Plant {
  const plant: Plant = { stems: [], leaves: [], material: [], anchors: [], svg: [] };
  const bounds = { left: 45, top: 75, right: 955, bottom: H - 40 };
  const palette = rng.pick(PLANT_PALETTES);
  const kind = rng.next();
  if (kind < 0.4) grassPlant(rng, plant, bounds, palette, H);
  else if (kind < 0.75) herbPlant(rng, plant, bounds, palette, H);
  else branchedPlant(rng, plant, bounds, palette, H);
  return plant;
}

/** White mounting strips across stems, perpendicular to them. */
function drawTapes(rng: Random, plant: Plant): string[] {
  const out: string[] = [];
  const count = Math.min(plant.anchors.length, rng.int(3, 10));
  for (let i = 0; i < count; i++) {
    const anchor = plant.anchors[rng.int(0, plant.anchors.length - 1)]!;
    const length = rng.range(22, 60);
    const width = rng.range(5, 10);
    const degrees = (anchor.angle * 180) / Math.PI + 90 + rng.range(-12, 12);
    out.push(`<rect x="${f(anchor.at.x - length / 2)}" y="${f(anchor.at.y - width / 2)}" width="${f(length)}" height="${f(width)}" fill="#fbfbf7" fill-opacity="${f(rng.range(0.82, 0.95))}" stroke="#b8b6ae" stroke-width="0.4" transform="rotate(${f(degrees)} ${f(anchor.at.x)} ${f(anchor.at.y)})"/>`);
  }
  return out;
}

/** Label "text": rows of word bars (no fonts, so rendering is identical everywhere). */
function textLines(rng: Random, x: number, y: number, width: number, lines: number, lineHeight: number, colour: string): string {
  let d = '';
  for (let line = 0; line < lines; line++) {
    let cursor = x;
    const end = x + width * (line === lines - 1 ? rng.range(0.3, 0.8) : rng.range(0.8, 1));
    const barHeight = lineHeight * 0.4;
    while (cursor < end) {
      const word = Math.min(rng.range(6, 34), end - cursor);
      if (word > 2) d += `M${f(cursor)} ${f(y + line * lineHeight)}h${f(word)}v${f(barHeight)}h${f(-word)}Z`;
      cursor += word + rng.range(2.5, 5);
    }
  }
  return `<path d="${d}" fill="${colour}" fill-opacity="0.7"/>`;
}

function drawBarcode(rng: Random, barcode: string, x: number, y: number): string {
  const bars = new Random(hash32(...Array.from(barcode, (c) => c.charCodeAt(0))));
  let d = '';
  let cursor = x + 6;
  while (cursor < x + 104) {
    const width = bars.range(0.6, 2.4);
    d += `M${f(cursor)} ${f(y + 4)}h${f(width)}v22h${f(-width)}Z`;
    cursor += width + bars.range(0.6, 2.2);
  }
  return `<rect x="${f(x)}" y="${f(y)}" width="110" height="38" fill="#fdfdfb" stroke="#ccc" stroke-width="0.4"/>`
    + `<path d="${d}" fill="#111"/>${textLines(rng, x + 30, y + 29, 50, 1, 7, '#222')}`;
}

/** The black band with ruler, institution box and colour patches at the top of the sheet. */
function drawColourBar(rng: Random): string {
  const x0 = rng.range(40, 260);
  const out = [`<rect x="0" y="0" width="${UNITS}" height="44" fill="#141414"/><g transform="scale(1.3)">`];
  out.push(`<rect x="${f(x0)}" y="7" width="270" height="20" fill="#f4f4f0"/>`);
  let ticks = '';
  for (let i = 0; i <= 54; i++) {
    const tx = x0 + 4 + i * 4.8;
    ticks += `M${f(tx)} 7v${i % 10 === 0 ? 9 : i % 5 === 0 ? 7 : 4}`;
  }
  out.push(`<path d="${ticks}" stroke="#111" stroke-width="0.6"/>`);
  for (let i = 0; i < 5; i++) out.push(`<rect x="${f(x0 + 4 + i * 52.8)}" y="19" width="26.4" height="5" fill="#111"/>`);
  out.push(`<rect x="${f(x0 + 280)}" y="6" width="52" height="24" fill="#f8f8f8"/>`, textLines(rng, x0 + 285, 13, 42, 1, 14, '#1a1a1a'));
  const patches = ['#2b2b2b', '#f2f2f2', '#7a7a7a', '#b52a2a', '#2a8a3a', '#2a3ab5', '#e0c020', '#c03a9a', '#30a0c0', '#a0a0a0', '#e07020', '#505050'];
  for (let i = 0; i < 12; i++) {
    out.push(`<rect x="${f(x0 + 345 + (i % 6) * 11)}" y="${f(7 + Math.floor(i / 6) * 11)}" width="10" height="10" fill="${patches[i]!}"/>`);
  }
  out.push(textLines(rng, x0 + 40, 30, 120, 1, 6, '#bbbbbb'), '</g>');
  return out.join('');
}

/**
 * Paper texture as a grey multiply layer (255 = unchanged): coarse blotches plus fine mottling,
 * computed at 1/6 of the sheet size and upscaled by sharp (librsvg upscaling of an embedded image
 * is 10x slower at 60 MP).
 */
function paperTexture(rng: Random, width: number, height: number): { pixels: Buffer; width: number; height: number } {
  const tw = Math.max(2, Math.ceil(width / 6));
  const th = Math.max(2, Math.ceil(height / 6));
  const gw = 16;
  const gh = Math.max(2, Math.round((16 * height) / width));
  const coarseAmplitude = rng.range(1.5, 5);
  const fineAmplitude = rng.range(1.5, 3.5);
  const grid = Float64Array.from({ length: gw * gh }, () => rng.normal());
  const fine = new Random(hash32(rng.int(0, 0x7fffffff), 7));
  const pixels = Buffer.alloc(tw * th);
  for (let y = 0; y < th; y++) {
    const gy = (y / (th - 1)) * (gh - 1);
    const y0 = Math.min(gh - 2, Math.floor(gy));
    const fy = gy - y0;
    for (let x = 0; x < tw; x++) {
      const gx = (x / (tw - 1)) * (gw - 1);
      const x0 = Math.min(gw - 2, Math.floor(gx));
      const fx = gx - x0;
      const top = grid[y0 * gw + x0]! * (1 - fx) + grid[y0 * gw + x0 + 1]! * fx;
      const bottom = grid[(y0 + 1) * gw + x0]! * (1 - fx) + grid[(y0 + 1) * gw + x0 + 1]! * fx;
      const coarse = top * (1 - fy) + bottom * fy;
      const value = 247 + coarse * coarseAmplitude + (fine.next() - 0.5) * 2 * fineAmplitude;
      pixels[y * tw + x] = Math.max(0, Math.min(255, Math.round(value)));
    }
  }
  return { pixels, width: tw, height: th };
}

interface StainResult { under: string[]; over: string[] }

/** Mercury staining: halos under the plant, speckles and crystals over it, in a few hot spots. */
function drawStain(rng: Random, plant: Plant, severity: number, gradientIds: { next: number }): StainResult {
  const under: string[] = [];
  const over: string[] = [];
  const hotSpots = 1 + Math.floor(severity * 3.5) + rng.int(0, 1);
  const grey = (): string => hslHex(rng.range(190, 240), rng.range(0, 10), rng.range(8, 30));
  for (let h = 0; h < hotSpots; h++) {
    const centre = plant.material[rng.int(0, plant.material.length - 1)]!;
    const radius = rng.range(30, 110) * (0.6 + severity * 0.6);
    const id = `halo${gradientIds.next++}`;
    const alpha = Math.min(0.85, severity * rng.range(0.35, 0.75) + 0.03);
    under.push(`<radialGradient id="${id}"><stop offset="0" stop-color="${grey()}" stop-opacity="${f(alpha)}"/><stop offset="0.55" stop-color="${grey()}" stop-opacity="${f(alpha * 0.45)}"/><stop offset="1" stop-color="#333" stop-opacity="0"/></radialGradient>`,
      `<ellipse cx="${f(centre.x)}" cy="${f(centre.y)}" rx="${f(radius * rng.range(0.7, 1.3))}" ry="${f(radius * rng.range(0.7, 1.3))}" fill="url(#${id})"/>`);
    // Halo hugging the plant material near the hot spot: strokes painted with a gradient centred
    // on it (fading along the stem), layered in widening bands (soft edge without a blur filter).
    const hugId = `hug${gradientIds.next++}`;
    const hugColour = grey();
    under.push(`<radialGradient id="${hugId}" gradientUnits="userSpaceOnUse" cx="${f(centre.x)}" cy="${f(centre.y)}" r="${f(radius * 1.6)}"><stop offset="0" stop-color="${hugColour}" stop-opacity="${f(Math.min(1, severity * rng.range(0.5, 1.2)))}"/><stop offset="1" stop-color="${hugColour}" stop-opacity="0"/></radialGradient>`);
    const near = (p: Point): boolean => Math.hypot(p.x - centre.x, p.y - centre.y) < radius * 1.6;
    const spread = rng.range(4, 12);
    for (const band of [1, 0.6, 0.3]) {
      const bandStyle = `fill="none" stroke="url(#${hugId})" stroke-opacity="0.3" stroke-linecap="round" stroke-linejoin="round"`;
      for (const stem of plant.stems) {
        if (stem.points.some(near)) under.push(`<path d="${stem.d}" ${bandStyle} stroke-width="${f(stem.width + spread * band * 2)}"/>`);
      }
      for (const leaf of plant.leaves) {
        if (near(leaf.centre)) under.push(`<path d="${leaf.d}" ${bandStyle} stroke-width="${f(spread * band * 2)}"/>`);
      }
    }
    const speckles = Math.round(severity * rng.range(60, 380));
    let dots = '';
    for (let s = 0; s < speckles; s++) {
      const x = centre.x + rng.normal() * radius * 0.55;
      const y = centre.y + rng.normal() * radius * 0.55;
      const r = rng.range(0.3, 1.0) + (rng.chance(0.1) ? rng.range(0.5, 1.8) : 0);
      dots += `M${f(x - r)} ${f(y)}a${f(r)} ${f(r)} 0 1 0 ${f(2 * r)} 0a${f(r)} ${f(r)} 0 1 0 ${f(-2 * r)} 0Z`;
    }
    if (dots) over.push(`<path d="${dots}" fill="${grey()}" fill-opacity="${f(rng.range(0.55, 0.95))}"/>`);
    const crystals = Math.round(severity * rng.range(2, 18));
    for (let c = 0; c < crystals; c++) {
      const cx = centre.x + rng.normal() * radius * 0.35;
      const cy = centre.y + rng.normal() * radius * 0.35;
      const size = rng.range(1, 4);
      const corners = rng.int(4, 6);
      const d = Array.from({ length: corners }, (_, k) => {
        const angle = (k / corners) * 2 * Math.PI + rng.range(-0.3, 0.3);
        const r = size * rng.range(0.5, 1.2);
        return `${k === 0 ? 'M' : 'L'}${f(cx + Math.cos(angle) * r)} ${f(cy + Math.sin(angle) * r)}`;
      }).join('');
      over.push(`<path d="${d}Z" fill="#dcdde2" fill-opacity="0.85" stroke="#4a4c52" stroke-width="0.35"/>`);
    }
  }
  return { under, over };
}

/** Benign marks present on clean and contaminated sheets alike. */
function drawConfounders(rng: Random, plant: Plant, H: number, gradientIds: { next: number }): string[] {
  const out: string[] = [];
  if (rng.chance(0.5)) { // foxing: rust-brown spots
    let d = '';
    for (let i = rng.int(5, 60); i > 0; i--) {
      const r = rng.range(0.4, 3);
      const x = rng.range(40, 960);
      const y = rng.range(60, H - 40);
      d += `M${f(x - r)} ${f(y)}a${f(r)} ${f(r)} 0 1 0 ${f(2 * r)} 0a${f(r)} ${f(r)} 0 1 0 ${f(-2 * r)} 0Z`;
    }
    out.push(`<path d="${d}" fill="${hslHex(rng.range(20, 35), rng.range(35, 60), rng.range(35, 55))}" fill-opacity="${f(rng.range(0.3, 0.7))}"/>`);
  }
  if (rng.chance(0.6)) { // dust and plant debris
    let d = '';
    for (let i = rng.int(3, 25); i > 0; i--) {
      const near = rng.chance(0.5) ? plant.material[rng.int(0, plant.material.length - 1)]! : { x: rng.range(40, 960), y: rng.range(60, H - 40) };
      const x = near.x + rng.normal() * 40;
      const y = near.y + rng.normal() * 40;
      const r = rng.range(0.4, 1.8);
      d += `M${f(x - r)} ${f(y)}a${f(r)} ${f(r)} 0 1 0 ${f(2 * r)} 0a${f(r)} ${f(r)} 0 1 0 ${f(-2 * r)} 0Z`;
    }
    out.push(`<path d="${d}" fill="${hslHex(rng.range(20, 50), rng.range(10, 40), rng.range(10, 30))}" fill-opacity="0.8"/>`);
  }
  if (rng.chance(0.25)) { // water stain / discolouration
    const id = `water${gradientIds.next++}`;
    const x = rng.range(100, 900);
    const y = rng.range(150, H - 150);
    out.push(`<radialGradient id="${id}"><stop offset="0" stop-color="${hslHex(rng.range(28, 40), 45, 45)}" stop-opacity="0"/><stop offset="0.7" stop-color="${hslHex(rng.range(28, 40), 45, 45)}" stop-opacity="${f(rng.range(0.02, 0.06))}"/><stop offset="0.96" stop-color="${hslHex(rng.range(25, 35), 50, 35)}" stop-opacity="${f(rng.range(0.06, 0.14))}"/><stop offset="1" stop-color="#6a4a2a" stop-opacity="0"/></radialGradient>`,
      `<ellipse cx="${f(x)}" cy="${f(y)}" rx="${f(rng.range(40, 160))}" ry="${f(rng.range(40, 160))}" fill="url(#${id})"/>`);
  }
  if (rng.chance(0.15)) { // grey handling smudge away from the plant
    const id = `smudge${gradientIds.next++}`;
    out.push(`<radialGradient id="${id}"><stop offset="0" stop-color="#555" stop-opacity="${f(rng.range(0.06, 0.18))}"/><stop offset="1" stop-color="#555" stop-opacity="0"/></radialGradient>`,
      `<ellipse cx="${f(rng.chance(0.5) ? rng.range(50, 150) : rng.range(850, 950))}" cy="${f(rng.range(100, H - 100))}" rx="${f(rng.range(15, 45))}" ry="${f(rng.range(20, 60))}" fill="url(#${id})"/>`);
  }
  if (rng.chance(0.5)) { // pencil or ink annotation
    let p = { x: rng.range(450, 700), y: rng.range(H - 330, H - 250) };
    let d = `M${f(p.x)} ${f(p.y)}`;
    for (let i = rng.int(8, 30); i > 0; i--) {
      p = { x: p.x + rng.range(2, 8), y: p.y + rng.normal() * 4 };
      d += `L${f(p.x)} ${f(p.y)}`;
    }
    out.push(`<path d="${d}" fill="none" stroke="${rng.pick(['#555', '#223', '#2a2a60'])}" stroke-width="${f(rng.range(0.6, 1.4))}" stroke-linejoin="round"/>`);
  }
  return out;
}

/** Draws a stain severity, uniform in [0.04, 1): about one stain in ten (severity < 0.15) is nearly invisible. */
export function sampleSeverity(rng: Random): number {
  return Math.round((0.04 + 0.96 * rng.next()) * 1000) / 1000;
}

/** Barcode printed on the sheet and used as its file name: QS + 8 digits from the seed. */
export function barcodeForSeed(seed: number): string {
  return `QS${String((seed >>> 0) % 100_000_000).padStart(8, '0')}`;
}

function checkSize(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 64 || value > MAX_SHEET_SIDE) {
    throw new QuicksilverError('CONFIG_INVALID', `synthetic sheet ${name} must be an integer from 64 to ${MAX_SHEET_SIDE}, got ${value}`);
  }
  return value;
}

/** The SVG of a sheet (exported for inspection; renderSheet rasterizes it). */
export function sheetSvg(options: RenderSheetOptions): { svg: string; severity: number; barcode: string; texture: ReturnType<typeof paperTexture> } {
  const width = checkSize('width', options.width ?? DEFAULT_SHEET_WIDTH);
  const height = checkSize('height', options.height ?? DEFAULT_SHEET_HEIGHT);
  const shift = options.shift ?? 'none';
  const seed = options.seed >>> 0;
  const H = (UNITS * height) / width;
  const root = new Random(seed);
  // Independent streams per part: changing the shift or the label leaves the specimen unchanged.
  const paperRng = root.fork(1);
  const plantRng = root.fork(2);
  const stainRng = root.fork(3);
  const extrasRng = root.fork(4);
  const shiftRng = root.fork(5);
  const gradientIds = { next: 0 };
  const barcode = barcodeForSeed(seed);

  const svg: string[] = [];
  const defs: string[] = [];
  svg.push(`<rect width="${UNITS}" height="${f(H)}" fill="${hslHex(0, 0, paperRng.range(6, 16))}"/>`);
  const paper = { x: paperRng.range(8, 18), y: 36, w: 0, h: 0 };
  paper.w = UNITS - 2 * paper.x;
  paper.h = H - paper.y - paperRng.range(6, 14);
  const usualTone = hslHex(paperRng.range(40, 60), paperRng.range(12, 40), paperRng.range(87, 96));
  const tone = shift === 'paper-tone' ? hslHex(shiftRng.range(30, 40), shiftRng.range(45, 65), shiftRng.range(70, 80)) : usualTone;
  const tilt = paperRng.range(-0.35, 0.35);
  svg.push(`<g transform="rotate(${f(tilt)} 500 ${f(H / 2)})">`);
  svg.push(`<rect x="${f(paper.x)}" y="${f(paper.y)}" width="${f(paper.w)}" height="${f(paper.h)}" fill="${tone}"/>`);

  if (extrasRng.chance(0.7)) { // herbarium seal
    const cx = extrasRng.range(440, 560);
    svg.push(`<g opacity="0.55" fill="none" stroke="${hslHex(extrasRng.range(90, 200), 15, 40)}"><circle cx="${f(cx)}" cy="75" r="22" stroke-width="1.2"/><circle cx="${f(cx)}" cy="75" r="15" stroke-width="0.6"/><path d="M${f(cx - 8)} 70h16M${f(cx - 6)} 76h12M${f(cx - 8)} 82h16" stroke-width="1.5"/></g>`);
  }
  if (extrasRng.chance(0.45)) { // fragment packet
    const px = extrasRng.range(790, 860);
    const py = extrasRng.range(60, 160);
    svg.push(`<rect x="${f(px)}" y="${f(py)}" width="95" height="75" fill="#f9f8f3" stroke="#d0cec6" stroke-width="0.6"/><path d="M${f(px)} ${f(py + 22)}h95M${f(px + 48)} ${f(py)}v22" stroke="#dddad2" stroke-width="0.8"/>`);
  }

  const plant = drawPlant(plantRng, H);
  const severity = options.contaminated ? sampleSeverity(stainRng) : 0;
  const stain = options.contaminated ? drawStain(stainRng, plant, severity, gradientIds) : { under: [], over: [] };
  const confounders = drawConfounders(extrasRng, plant, H, gradientIds);
  for (const list of [stain.under, confounders]) {
    for (const item of list) (item.startsWith('<radialGradient') ? defs : svg).push(item);
  }
  svg.push(...plant.svg, ...stain.over, ...drawTapes(plantRng, plant));

  // Label block, determination slip, barcode.
  const labelW = extrasRng.range(260, 340);
  const labelH = extrasRng.range(110, 190);
  const labelX = UNITS - 40 - labelW - extrasRng.range(0, 40);
  const labelY = H - 30 - labelH - extrasRng.range(0, 40);
  svg.push(`<rect x="${f(labelX)}" y="${f(labelY)}" width="${f(labelW)}" height="${f(labelH)}" fill="${hslHex(45, extrasRng.range(5, 30), extrasRng.range(93, 98))}" stroke="#9a978e" stroke-width="0.5"/>`);
  svg.push(textLines(extrasRng, labelX + labelW * 0.2, labelY + 10, labelW * 0.6, 1, 12, '#1c1c1c'));
  svg.push(textLines(extrasRng, labelX + 12, labelY + 30, labelW - 24, Math.floor((labelH - 40) / 9), 9, '#2a2a2a'));
  if (extrasRng.chance(0.5)) {
    const slipX = labelX - extrasRng.range(150, 220);
    const slipY = H - extrasRng.range(110, 150);
    svg.push(`<rect x="${f(slipX)}" y="${f(slipY)}" width="130" height="55" fill="#f1ede0" stroke="#b0ab9c" stroke-width="0.5"/>`,
      textLines(extrasRng, slipX + 10, slipY + 12, 105, 3, 12, '#3a3a50'));
  }
  svg.push(drawBarcode(extrasRng, barcode, extrasRng.range(70, 330), H - extrasRng.range(70, 95)));
  svg.push('</g>');
  svg.push(drawColourBar(extrasRng));

  if (shift === 'illumination') {
    const id = 'illumination';
    const angle = shiftRng.range(0, 360);
    defs.push(`<linearGradient id="${id}" gradientTransform="rotate(${f(angle)} 0.5 0.5)"><stop offset="0" stop-color="#000010" stop-opacity="${f(shiftRng.range(0.05, 0.15))}"/><stop offset="1" stop-color="#000010" stop-opacity="${f(shiftRng.range(0.25, 0.4))}"/></linearGradient>`);
    svg.push(`<rect width="${UNITS}" height="${f(H)}" fill="url(#${id})"/>`);
  }

  const document = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${UNITS} ${f(H)}" preserveAspectRatio="none">`
    + `<defs>${defs.join('')}</defs>${svg.join('')}</svg>`;
  return { svg: document, severity, barcode, texture: paperTexture(paperRng, width, height) };
}

/** Renders one sheet. Same options -> identical bytes. */
export async function renderSheet(options: RenderSheetOptions): Promise<{ bytes: Buffer; truth: Omit<SheetTruth, 'file'> }> {
  const width = options.width ?? DEFAULT_SHEET_WIDTH;
  const height = options.height ?? DEFAULT_SHEET_HEIGHT;
  const format = options.format ?? 'jpeg';
  const quality = options.quality ?? 90;
  const shift = options.shift ?? 'none';
  if (!SHEET_FORMATS.includes(format)) throw new QuicksilverError('CONFIG_INVALID', `unknown sheet format ${String(format)}`);
  if (!SHEET_SHIFTS.includes(shift)) throw new QuicksilverError('CONFIG_INVALID', `unknown shift ${String(shift)}`);
  const { svg, severity, barcode, texture } = sheetSvg(options);
  const grain = await sharp(texture.pixels, { raw: { width: texture.width, height: texture.height, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const image = sharp(Buffer.from(svg), { limitInputPixels: false, unlimited: true })
    .removeAlpha()
    .composite([{ input: grain, raw: { width, height, channels: 1 }, blend: 'multiply' }]);
  const encoded = format === 'jpeg' ? image.jpeg({ quality })
    : format === 'png' ? image.png({ compressionLevel: 6 })
      : image.tiff({ compression: 'lzw' });
  const bytes = await encoded.toBuffer();
  return {
    bytes,
    truth: { barcode, contaminated: options.contaminated, severity, seed: options.seed >>> 0, width, height, shift },
  };
}
