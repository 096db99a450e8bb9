/**
 * A histogram-binned random forest for regression (ADR 0005). Each feature is cut once into at most
 * `bins` quantile bins; a node's split search then sums targets per bin (one pass over its rows) instead of
 * sorting, and the trees store bin thresholds. Bagging with bootstrap samples and a random feature subset
 * per node, as in Breiman's forest. Measured ~20x faster than ml-random-forest on this machine's data.
 */
export interface ForestOptions {
  trees: number;
  maxDepth: number;
  minLeaf: number;
  /** Features tried per split, as a fraction of all features. */
  featureFraction: number;
  /** Rows per tree, as a fraction of all rows (sampled with replacement). */
  sampleFraction: number;
  bins: number;
  seed: number;
  /** Leaf value: the mean of its rows (least squares), or their median (least absolute error, what WAPE rewards). */
  leaf: 'mean' | 'median';
}

export const DEFAULT_FOREST: ForestOptions = { trees: 60, maxDepth: 12, minLeaf: 8, featureFraction: 0.5, sampleFraction: 0.7, bins: 64, seed: 42, leaf: 'mean' };

/** Nodes in flat arrays: feature < 0 marks a leaf whose value is in `value`. */
interface Tree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

export interface SerializedForest {
  kind: 'hist-forest';
  version: 1;
  features: number;
  trees: { feature: number[]; threshold: number[]; left: number[]; right: number[]; value: number[] }[];
}

export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cut points per feature: upper edges of quantile bins (bin b holds x <= edges[b]). NaN goes to bin 0. */
function binEdges(X: Float64Array, n: number, f: number, nf: number, bins: number): Float64Array {
  const vals: number[] = [];
  const step = Math.max(1, Math.floor(n / 20000));
  for (let i = 0; i < n; i += step) {
    const v = X[i * nf + f]!;
    if (!Number.isNaN(v)) vals.push(v);
  }
  vals.sort((a, b) => a - b);
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) {
    const v = vals[Math.floor((b * vals.length) / bins)];
    if (v !== undefined && (edges.length === 0 || v > edges[edges.length - 1]!)) edges.push(v);
  }
  return Float64Array.from(edges);
}

function medianOf(y: Float64Array, idx: Int32Array): number {
  const v = Float64Array.from(idx, (i) => y[i]!).sort();
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export class HistForest {
  private constructor(
    private readonly nFeatures: number,
    private readonly trees: Tree[],
  ) {}

  /** X is row-major (n × nFeatures). */
  static fit(X: Float64Array, y: Float64Array, nFeatures: number, opts: Partial<ForestOptions> = {}): HistForest {
    const o = { ...DEFAULT_FOREST, ...opts };
    const n = y.length;
    if (X.length !== n * nFeatures) throw new RangeError(`X has ${X.length} values, expected ${n} × ${nFeatures}`);
    if (n === 0) throw new RangeError('no training rows');
    const edges = Array.from({ length: nFeatures }, (_, f) => binEdges(X, n, f, nFeatures, o.bins));
    // Binned copy, column-major for cache-friendly histogram passes.
    const B = new Uint8Array(n * nFeatures);
    for (let f = 0; f < nFeatures; f++) {
      const e = edges[f]!;
      for (let i = 0; i < n; i++) {
        const v = X[i * nFeatures + f]!;
        let lo = 0;
        if (!Number.isNaN(v)) {
          let hi = e.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (v <= e[mid]!) hi = mid;
            else lo = mid + 1;
          }
        }
        B[f * n + i] = lo;
      }
    }
    const rnd = mulberry32(o.seed);
    const mtry = Math.max(1, Math.round(nFeatures * o.featureFraction));
    const trees: Tree[] = [];
    const sampleN = Math.max(1, Math.round(n * o.sampleFraction));
    const sum = new Float64Array(256);
    const cnt = new Float64Array(256);
    for (let t = 0; t < o.trees; t++) {
      const rows = new Int32Array(sampleN);
      for (let i = 0; i < sampleN; i++) rows[i] = Math.floor(rnd() * n);
      const feature: number[] = [];
      const threshold: number[] = [];
      const left: number[] = [];
      const right: number[] = [];
      const value: number[] = [];
      const grow = (idx: Int32Array, depth: number): number => {
        const node = feature.length;
        feature.push(-1);
        threshold.push(0);
        left.push(-1);
        right.push(-1);
        let s = 0;
        for (let i = 0; i < idx.length; i++) s += y[idx[i]!]!;
        const mean = s / idx.length;
        value.push(mean);
        if (depth >= o.maxDepth || idx.length < 2 * o.minLeaf) {
          if (o.leaf === 'median') value[node] = medianOf(y, idx);
          return node;
        }
        let bestGain = 0;
        let bestF = -1;
        let bestBin = -1;
        const total = s;
        const m = idx.length;
        const base = (total * total) / m;
        const tried = new Set<number>();
        while (tried.size < mtry) tried.add(Math.floor(rnd() * nFeatures));
        for (const f of tried) {
          const nb = edges[f]!.length + 1;
          sum.fill(0, 0, nb);
          cnt.fill(0, 0, nb);
          const col = f * n;
          for (let i = 0; i < m; i++) {
            const r = idx[i]!;
            const b = B[col + r]!;
            sum[b]! += y[r]!;
            cnt[b]! += 1;
          }
          let ls = 0;
          let lc = 0;
          for (let b = 0; b < nb - 1; b++) {
            ls += sum[b]!;
            lc += cnt[b]!;
            const rc = m - lc;
            if (lc < o.minLeaf) continue;
            if (rc < o.minLeaf) break;
            const rs = total - ls;
            const gain = (ls * ls) / lc + (rs * rs) / rc - base;
            if (gain > bestGain) {
              bestGain = gain;
              bestF = f;
              bestBin = b;
            }
          }
        }
        if (bestF < 0) {
          if (o.leaf === 'median') value[node] = medianOf(y, idx);
          return node;
        }
        const col = bestF * n;
        let nl = 0;
        for (let i = 0; i < m; i++) if (B[col + idx[i]!]! <= bestBin) nl++;
        const li = new Int32Array(nl);
        const ri = new Int32Array(m - nl);
        let a = 0;
        let c = 0;
        for (let i = 0; i < m; i++) {
          const r = idx[i]!;
          if (B[col + r]! <= bestBin) li[a++] = r;
          else ri[c++] = r;
        }
        feature[node] = bestF;
        threshold[node] = edges[bestF]![bestBin]!;
        left[node] = grow(li, depth + 1);
        right[node] = grow(ri, depth + 1);
        return node;
      };
      grow(rows, 0);
      trees.push({
        feature: Int32Array.from(feature),
        threshold: Float64Array.from(threshold),
        left: Int32Array.from(left),
        right: Int32Array.from(right),
        value: Float64Array.from(value),
      });
    }
    return new HistForest(nFeatures, trees);
  }

  /** Mean of the trees for each row of X (row-major). NaN features follow the left branch, as in training. */
  predict(X: Float64Array): Float64Array {
    const nf = this.nFeatures;
    const n = X.length / nf;
    const out = new Float64Array(n);
    for (const t of this.trees) {
      for (let i = 0; i < n; i++) {
        let node = 0;
        while (t.feature[node]! >= 0) {
          const v = X[i * nf + t.feature[node]!]!;
          node = Number.isNaN(v) || v <= t.threshold[node]! ? t.left[node]! : t.right[node]!;
        }
        out[i]! += t.value[node]!;
      }
    }
    for (let i = 0; i < n; i++) out[i]! /= this.trees.length;
    return out;
  }

  toJSON(): SerializedForest {
    return {
      kind: 'hist-forest',
      version: 1,
      features: this.nFeatures,
      trees: this.trees.map((t) => ({
        feature: Array.from(t.feature),
        threshold: Array.from(t.threshold),
        left: Array.from(t.left),
        right: Array.from(t.right),
        value: Array.from(t.value),
      })),
    };
  }

  static fromJSON(s: SerializedForest): HistForest {
    if (s?.kind !== 'hist-forest' || s.version !== 1) throw new RangeError('not a serialized hist-forest v1');
    return new HistForest(
      s.features,
      s.trees.map((t) => ({
        feature: Int32Array.from(t.feature),
        threshold: Float64Array.from(t.threshold),
        left: Int32Array.from(t.left),
        right: Int32Array.from(t.right),
        value: Float64Array.from(t.value),
      })),
    );
  }
}
