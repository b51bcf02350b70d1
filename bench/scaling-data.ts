// Data for `npm run bench -- scaling`: Fashion-MNIST for LeNet-5, and 224x224 crops of the real
// photos in ../shared/data/images for Inception-v1 (decoded by djpeg from Debian's
// libjpeg-turbo-progs), or Fashion-MNIST upscaled when neither the photos nor djpeg are there.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadImageData } from '../src/cli/datasets.js';
import { packageRoot } from '../src/util/package-root.js';
import type { ImageRecord } from './scaling-fns.js';

export interface BenchData { records: ImageRecord[]; about: string }

/** Fashion-MNIST training images 0..n-1, standardised with the training set's usual mean/std. */
export function fashionMnist(n: number): BenchData {
  const { train } = loadImageData('fashion-mnist');
  const px = train.images.data as Float32Array, labels = train.labels.data as Int32Array;
  n = Math.min(n, labels.length);
  const records = Array.from({ length: n }, (_, i) => {
    const p = px.slice(i * 784, (i + 1) * 784);
    for (let j = 0; j < 784; j++) p[j] = (p[j] - 0.286) / 0.353;
    return { pixels: p, shape: [1, 28, 28], label: labels[i] };
  });
  return { records, about: `Fashion-MNIST (first ${n} training images, 1x28x28, standardised)` };
}

interface Rgb { w: number; h: number; px: Uint8Array }

/** Parses djpeg's binary PPM (P6) or PGM (P5) output into RGB bytes. */
function parsePnm(buf: Buffer): Rgb {
  let pos = 0;
  const token = (): string => {
    for (;;) {
      while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
      if (buf[pos] !== 0x23) break; // '#': comment to end of line
      while (buf[pos] !== 0x0a) pos++;
    }
    const start = pos;
    while (!/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    return buf.toString('latin1', start, pos);
  };
  const magic = token(), w = Number(token()), h = Number(token()), max = Number(token());
  pos++; // the single whitespace before the raster
  if ((magic !== 'P6' && magic !== 'P5') || max !== 255) throw new Error(`unexpected PNM header ${magic} ${w}x${h} max ${max}`);
  const raw = buf.subarray(pos);
  if (magic === 'P6') return { w, h, px: new Uint8Array(raw.buffer, raw.byteOffset, w * h * 3) };
  const px = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = raw[i];
  return { w, h, px };
}

const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

/** Bilinear resize so the shorter side is `short`, then a size x size crop at (ox, oy) in [0,1] of the slack, optionally mirrored; CHW, ImageNet-normalised. */
function cropCHW(img: Rgb, short: number, size: number, ox: number, oy: number, mirror: boolean): Float32Array {
  const s = short / Math.min(img.w, img.h);
  const W = Math.round(img.w * s), H = Math.round(img.h * s);
  const x0 = Math.round((W - size) * ox), y0 = Math.round((H - size) * oy);
  const out = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(img.h - 1, Math.max(0, (y0 + y + 0.5) / s - 0.5));
    const yi = Math.floor(sy), fy = sy - yi, yj = Math.min(img.h - 1, yi + 1);
    for (let x = 0; x < size; x++) {
      const dx = mirror ? size - 1 - x : x;
      const sx = Math.min(img.w - 1, Math.max(0, (x0 + dx + 0.5) / s - 0.5));
      const xi = Math.floor(sx), fx = sx - xi, xj = Math.min(img.w - 1, xi + 1);
      for (let c = 0; c < 3; c++) {
        const a = img.px[(yi * img.w + xi) * 3 + c], b = img.px[(yi * img.w + xj) * 3 + c];
        const d = img.px[(yj * img.w + xi) * 3 + c], e = img.px[(yj * img.w + xj) * 3 + c];
        const v = ((a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy) / 255;
        out[c * size * size + y * size + x] = (v - MEAN[c]) / STD[c];
      }
    }
  }
  return out;
}

/**
 * `perImage` 224x224 crops (centre, corners, mirrored) of every JPEG under ../shared/data/images,
 * label = the photo's index; or `fallbackN` Fashion-MNIST images upscaled x8 to 3x224x224.
 */
export function inceptionImages(perImage: number, fallbackN: number): BenchData {
  const dir = join(packageRoot(), '..', 'shared', 'data', 'images');
  const djpeg = spawnSync('djpeg', ['-version'], { encoding: 'utf8' });
  const files = existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => join(dir, f))
    : [];
  let why = '';
  if (djpeg.error) why = 'djpeg is not installed (Debian: apt-get install libjpeg-turbo-progs)';
  else if (files.length === 0) why = `no JPEG photos under ${dir}`;
  if (!why) {
    const crops: [number, number, boolean][] = [[0.5, 0.5, false], [0, 0, false], [1, 1, false], [0.5, 0.5, true], [1, 0, false], [0, 1, false], [0, 0, true], [1, 1, true]];
    const records: ImageRecord[] = [];
    files.forEach((f, label) => {
      const r = spawnSync('djpeg', ['-pnm', f], { maxBuffer: 1 << 28 });
      if (r.status !== 0) throw new Error(`djpeg ${f}: ${r.stderr}`);
      const img = parsePnm(r.stdout);
      for (const [ox, oy, m] of crops.slice(0, perImage)) records.push({ pixels: cropCHW(img, 256, 224, ox, oy, m), shape: [3, 224, 224], label });
    });
    return { records, about: `${files.length} real photos from ../shared/data/images (skimage, faces), shorter side 256, ${Math.min(perImage, crops.length)} 224x224 crops each, ImageNet mean/std; label = photo index` };
  }
  const f = fashionMnist(fallbackN);
  const records = f.records.map((r) => {
    const out = new Float32Array(3 * 224 * 224);
    for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) out[y * 224 + x] = r.pixels[(y >> 3) * 28 + (x >> 3)];
    out.copyWithin(224 * 224, 0, 224 * 224);
    out.copyWithin(2 * 224 * 224, 0, 224 * 224);
    return { pixels: out, shape: [3, 224, 224], label: r.label };
  });
  return { records, about: `Fashion-MNIST upscaled x8 to 3x224x224 (${fallbackN} images), because ${why}` };
}
