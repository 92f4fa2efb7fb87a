/**
 * LyCORIS modules in kohya-named files, and their ΔW exactly as LyCORIS
 * itself builds it (lycoris/functional and lycoris/modules), unscaled; the
 * module's scale (alpha / rank, or 1) is applied by the merge:
 *
 * - LoCon with Tucker (`lora_mid`): up [out, r, 1…], down [r, in, 1…], mid [r, r, k…]
 *   ΔW[o, c, κ] = Σ_ij mid[i, j, κ] · up[o, i] · down[j, c]          (rebuild_tucker)
 * - LoHa (`hada_w1_a/b`, `hada_w2_a/b`): ΔW = (w1_a·w1_b) ⊙ (w2_a·w2_b), w*_a [out, r],
 *   w*_b [r, in…] (a conv LoHa stores [r, in·k·k]: ΔW is flat, reshaped to the base);
 *   with `hada_t1/t2` each factor is rebuild_tucker(t, w_a [r, out], w_b [r, in]).
 * - LoKr (`lokr_w1` or `lokr_w1_a·lokr_w1_b`, `lokr_w2` or `lokr_w2_a·lokr_w2_b`, or
 *   rebuild_tucker(`lokr_t2`, w2_a, w2_b)): ΔW = w1 ⊗ w2 (Kronecker; w1 gets trailing
 *   1-dims to w2's rank), [a·b, c·d, k…]. Rank = w1_a's or w2_a's columns; with both
 *   factors full there is no rank and the scale is 1 (alpha is ignored).
 * - Full difference (`diff`, `diff_b`): ΔW = diff, Δbias = diff_b, scale 1.
 *
 * Everything is float64 here; the merge rounds once to the base dtype.
 */
import { ModelFuseError } from '../errors';
import type { TensorRef } from './tensorRef';

export type LycorisAlgorithm = 'locon-tucker' | 'loha' | 'lokr' | 'full';

/** The suffixes after `<kohya module name>.` that belong to LyCORIS algorithms (besides plain LoRA's lora_down/lora_up). */
export const LYCORIS_PARTS = [
  'lora_mid.weight', 'hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b', 'hada_t1', 'hada_t2',
  'lokr_w1', 'lokr_w1_a', 'lokr_w1_b', 'lokr_w2', 'lokr_w2_a', 'lokr_w2_b', 'lokr_t2', 'diff', 'diff_b',
] as const;

export const ALGORITHM_LABEL: Record<LycorisAlgorithm | 'lora', string> = {
  lora: 'LoRA', 'locon-tucker': 'LoCon (Tucker, lora_mid)', loha: 'LoHa', lokr: 'LoKr', full: 'full diff',
};

export interface LycorisShape {
  algorithm: LycorisAlgorithm;
  /** ΔW in PyTorch layout; for a flat conv LoHa/LoKr, [out, in·k·k]. */
  deltaShape: number[];
  /** The rank alpha is divided by, or null when the scale is 1 whatever alpha says. */
  rank: number | null;
  /** ΔW is [out, rest] and may stand for a conv weight [out, in, k…] with the same numbers. */
  flattened: boolean;
}

type Parts = Record<string, TensorRef>;

const prod = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);
const fmt = (d: readonly number[]): string => `[${d.join(', ')}]`;

/** Which LyCORIS algorithm the parts of one module make, with ΔW's shape; throws naming the module when they do not fit. */
export function describeLycoris(where: string, parts: Parts): LycorisShape | undefined {
  const has = (k: string): boolean => parts[k] !== undefined;
  const families = [
    has('lora_mid.weight') && 'locon-tucker',
    Object.keys(parts).some((k) => k.startsWith('hada_')) && 'loha',
    Object.keys(parts).some((k) => k.startsWith('lokr_')) && 'lokr',
    (has('diff') || has('diff_b')) && 'full',
  ].filter((f): f is LycorisAlgorithm => !!f);
  if (families.length === 0) return undefined;
  if (families.length > 1) throw new ModelFuseError(`${where} mixes ${families.map((f) => ALGORITHM_LABEL[f]).join(' and ')} keys`);
  const need = (...keys: string[]): TensorRef[] => {
    const missing = keys.filter((k) => !has(k));
    if (missing.length) throw new ModelFuseError(`${where} (${ALGORITHM_LABEL[families[0]]}) has no ${missing.join(', ')}`);
    return keys.map((k) => parts[k]);
  };
  const bad = (what: string): never => {
    throw new ModelFuseError(`${where}: ${what}`);
  };
  switch (families[0]) {
    case 'locon-tucker': {
      const [up, down, mid] = need('lora_up.weight', 'lora_down.weight', 'lora_mid.weight').map((r) => r.shape);
      const r = down[0];
      if (up.length < 2 || up[1] !== r || mid[0] !== r || mid[1] !== r || prod(up.slice(2)) !== 1 || prod(down.slice(2)) !== 1) {
        bad(`lora_up ${fmt(up)}, lora_mid ${fmt(mid)} and lora_down ${fmt(down)} do not form a Tucker LoCon`);
      }
      return { algorithm: 'locon-tucker', deltaShape: [up[0], down[1], ...mid.slice(2)], rank: r, flattened: false };
    }
    case 'loha': {
      const tucker = has('hada_t1') || has('hada_t2');
      const [w1a, w1b, w2a, w2b] = need('hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b').map((x) => x.shape);
      if (tucker) {
        const [t1, t2] = need('hada_t1', 'hada_t2').map((x) => x.shape);
        const s1 = tuckerShape(t1, w1a, w1b);
        const s2 = tuckerShape(t2, w2a, w2b);
        if (!s1 || !s2 || fmt(s1) !== fmt(s2)) bad(`hada_t1 ${fmt(t1)} / hada_t2 ${fmt(t2)} with hada_w*_a/b do not rebuild one weight`);
        return { algorithm: 'loha', deltaShape: s1!, rank: w1b[0], flattened: false };
      }
      const s1 = w1a.length === 2 && w1a[1] === w1b[0] ? [w1a[0], ...w1b.slice(1)] : undefined;
      const s2 = w2a.length === 2 && w2a[1] === w2b[0] ? [w2a[0], ...w2b.slice(1)] : undefined;
      if (!s1 || !s2 || fmt(s1) !== fmt(s2)) bad(`hada_w1_a ${fmt(w1a)} · hada_w1_b ${fmt(w1b)} and hada_w2_a ${fmt(w2a)} · hada_w2_b ${fmt(w2b)} do not make two products of one shape`);
      return { algorithm: 'loha', deltaShape: s1!, rank: w1b[0], flattened: s1!.length === 2 };
    }
    case 'lokr': {
      const w1 = lokrFactor(where, parts, 'lokr_w1', 'lokr_w1_a', 'lokr_w1_b', undefined);
      const w2 = lokrFactor(where, parts, 'lokr_w2', 'lokr_w2_a', 'lokr_w2_b', parts.lokr_t2);
      if (w1.shape.length !== 2) bad(`lokr_w1 ${fmt(w1.shape)} is not a matrix`);
      const w1Shape = [...w1.shape, ...new Array(Math.max(w2.shape.length - 2, 0)).fill(1)];
      const deltaShape = w2.shape.map((d, i) => d * w1Shape[i]);
      return { algorithm: 'lokr', deltaShape, rank: w1.rank ?? w2.rank, flattened: deltaShape.length === 2 };
    }
    case 'full': {
      const [diff] = need('diff');
      return { algorithm: 'full', deltaShape: diff.shape, rank: null, flattened: false };
    }
  }
}

/** rebuild_tucker(t, wa, wb): t [R1, R2, κ…], wa [R1, P], wb [R2, Q] → [P, Q, κ…]. */
function tuckerShape(t: number[], wa: number[], wb: number[]): number[] | undefined {
  const wbFlat = [wb[0], prod(wb.slice(1))];
  if (t.length < 2 || wa.length !== 2 || t[0] !== wa[0] || t[1] !== wbFlat[0]) return undefined;
  return [wa[1], wbFlat[1], ...t.slice(2)];
}

/** One Kronecker factor of LoKr: full, a·b, or Tucker; its shape and rank (null when full). */
function lokrFactor(where: string, parts: Parts, full: string, a: string, b: string, t: TensorRef | undefined): { shape: number[]; rank: number | null } {
  if (parts[full]) {
    if (parts[a] || parts[b] || t) throw new ModelFuseError(`${where} has both ${full} and its factors`);
    return { shape: parts[full].shape, rank: null };
  }
  if (!parts[a] || !parts[b]) throw new ModelFuseError(`${where} (LoKr) has neither ${full} nor both ${a} and ${b}`);
  const sa = parts[a].shape;
  const sb = parts[b].shape;
  if (t) {
    const s = tuckerShape(t.shape, sa, sb);
    if (!s) throw new ModelFuseError(`${where}: lokr_t2 ${fmt(t.shape)} with ${a} ${fmt(sa)} and ${b} ${fmt(sb)} do not rebuild a weight`);
    return { shape: s, rank: sa[0] };
  }
  if (sa.length !== 2 || sa[1] !== sb[0]) throw new ModelFuseError(`${where}: ${a} ${fmt(sa)} · ${b} ${fmt(sb)} is not a product`);
  return { shape: [sa[0], ...sb.slice(1)], rank: sa[1] };
}

/** [m, k]·[k, n] in float64. */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p];
      if (av === 0) continue;
      const row = p * n;
      for (let j = 0; j < n; j++) out[i * n + j] += av * b[row + j];
    }
  }
  return out;
}

/** rebuild_tucker: out[p, q, κ] = Σ_ij t[i, j, κ] · wa[i, p] · wb[j, q]. */
function rebuildTucker(
  t: ArrayLike<number>,
  tShape: number[],
  wa: ArrayLike<number>,
  waShape: number[],
  wb: ArrayLike<number>,
  wbShape: number[],
): Float64Array {
  const [r1, r2] = tShape;
  const kernel = prod(tShape.slice(2));
  const p = waShape[1];
  const q = prod(wbShape.slice(1));
  // s[i, q, κ] = Σ_j t[i, j, κ] · wb[j, q]
  const s = new Float64Array(r1 * q * kernel);
  for (let i = 0; i < r1; i++) for (let j = 0; j < r2; j++) for (let c = 0; c < q; c++) {
    const w = wb[j * q + c];
    if (w === 0) continue;
    for (let k = 0; k < kernel; k++) s[(i * q + c) * kernel + k] += t[(i * r2 + j) * kernel + k] * w;
  }
  // out[p, q, κ] = Σ_i wa[i, p] · s[i, q, κ]
  return matmul(transposeMatrix(wa, r1, p), s, p, r1, q * kernel);
}

function transposeMatrix(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** ΔW (unscaled) of a LyCORIS module, float64, in `shape.deltaShape`'s layout. */
export function lycorisDelta(shape: LycorisShape, parts: Parts, read: (ref: TensorRef) => ArrayLike<number>): Float64Array {
  const get = (k: string): { v: ArrayLike<number>; s: number[] } => ({ v: read(parts[k]), s: parts[k].shape });
  switch (shape.algorithm) {
    case 'locon-tucker': {
      const up = get('lora_up.weight');
      const down = get('lora_down.weight');
      const mid = get('lora_mid.weight');
      const r = down.s[0];
      // LyCORIS: wa = up.view(out, r)ᵀ [r, out], wb = down.view(r, in) → rebuild_tucker(mid, wa, wb)
      return rebuildTucker(mid.v, mid.s, transposeMatrix(up.v, up.s[0], r), [r, up.s[0]], down.v, [r, prod(down.s.slice(1))]);
    }
    case 'loha': {
      const factor = (n: 1 | 2): Float64Array => {
        const a = get(`hada_w${n}_a`);
        const b = get(`hada_w${n}_b`);
        if (parts[`hada_t${n}`]) {
          const t = get(`hada_t${n}`);
          return rebuildTucker(t.v, t.s, a.v, a.s, b.v, b.s);
        }
        return matmul(a.v, b.v, a.s[0], a.s[1], prod(b.s.slice(1)));
      };
      const w1 = factor(1);
      const w2 = factor(2);
      return w1.map((v, i) => v * w2[i]);
    }
    case 'lokr': {
      const factor = (n: 1 | 2): { v: ArrayLike<number>; s: number[] } => {
        if (parts[`lokr_w${n}`]) return get(`lokr_w${n}`);
        const a = get(`lokr_w${n}_a`);
        const b = get(`lokr_w${n}_b`);
        if (n === 2 && parts.lokr_t2) {
          const t = get('lokr_t2');
          return { v: rebuildTucker(t.v, t.s, a.v, a.s, b.v, b.s), s: [a.s[1], prod(b.s.slice(1)), ...t.s.slice(2)] };
        }
        return { v: matmul(a.v, b.v, a.s[0], a.s[1], prod(b.s.slice(1))), s: [a.s[0], ...b.s.slice(1)] };
      };
      const w1 = factor(1);
      const w2 = factor(2);
      return kron(w1.v, w1.s, w2.v, w2.s);
    }
    case 'full':
      return Float64Array.from(read(parts.diff));
  }
}

/** torch.kron(w1, w2) with w1 [a, c] padded by trailing 1-dims to w2's rank: out[i·b + p, j·d + q, κ] = w1[i, j] · w2[p, q, κ]. */
function kron(w1: ArrayLike<number>, s1: number[], w2: ArrayLike<number>, s2: number[]): Float64Array {
  const [a, c] = s1;
  const [b, d] = s2;
  const kernel = prod(s2.slice(2));
  const rows = a * b;
  const cols = c * d;
  const out = new Float64Array(rows * cols * kernel);
  for (let i = 0; i < a; i++) for (let j = 0; j < c; j++) {
    const x = w1[i * c + j];
    for (let p = 0; p < b; p++) for (let q = 0; q < d; q++) {
      const dst = ((i * b + p) * cols + j * d + q) * kernel;
      const src = (p * d + q) * kernel;
      for (let k = 0; k < kernel; k++) out[dst + k] = x * w2[src + k];
    }
  }
  return out;
}
