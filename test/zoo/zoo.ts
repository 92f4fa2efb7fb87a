/**
 * The real-export zoo: torchvision's models exported by PyTorch itself
 * (scripts/zoo/generate.py), checked against what PyTorch says about them.
 *
 * Each folder of test/fixtures/zoo holds `truth.json` (torch.fx's leaf modules,
 * call counts from forward hooks, the fusible chains and, for torchvision's
 * quantizable models, the groups their hand-written fuse_model() fuses) and up
 * to three exports without weight bytes (`<variant>.onnx.gz`: every tensor's
 * name, type and shape, payloads as external data in `weights.bin`). A model is
 * materialised in a temporary folder with `weights.bin` as a sparse file of the
 * right length (reads as zeros; scan and fuse-list never read weights), then
 * scanned exactly as `scan` and `fuse-list` do.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { OnnxModel } from '../../extension/engine/onnx/model';
import { analyzeModel } from '../../extension/engine/fusion/scan';
import { buildFuseList } from '../../extension/engine/fusion/fuseList';
import type { PythonDefinition } from '../../extension/engine/graph/pythonFolds';

export const ZOO_DIR = path.resolve(__dirname, '..', 'fixtures', 'zoo');
export const VARIANTS = ['bn-trained', 'bn-default', 'eval-default'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface ZooTruth {
  model: string;
  family: 'tv' | 'quant';
  namedModules?: string[];
  hookCalls?: Record<string, number>;
  fxCalls?: Record<string, number>;
  classes?: Record<string, string>;
  /** Every named module's class (recorded for all models, also where torch.fx cannot trace). */
  moduleClasses?: Record<string, string>;
  fusibleChains?: string[][];
  fuseModelGroups?: string[][];
  fxError?: string;
  buildError?: string;
  exports: Record<string, { file?: string; externalBytes?: number; error?: string }>;
}

export interface ZooEntry {
  key: string;
  dir: string;
  truth: ZooTruth;
}

export function zooEntries(filter: string[] = []): ZooEntry[] {
  if (!fs.existsSync(ZOO_DIR)) return [];
  return fs
    .readdirSync(ZOO_DIR)
    .filter((k) => fs.existsSync(path.join(ZOO_DIR, k, 'truth.json')))
    .filter((k) => filter.length === 0 || filter.some((f) => k.includes(f)))
    .sort()
    .map((key) => ({ key, dir: path.join(ZOO_DIR, key), truth: JSON.parse(fs.readFileSync(path.join(ZOO_DIR, key, 'truth.json'), 'utf8')) as ZooTruth }));
}

/** Writes the export into a fresh temporary folder with a sparse weights.bin; returns the model path and a cleanup. */
export function materialise(entry: ZooEntry, variant: Variant): { modelPath: string; dispose(): void } | null {
  const info = entry.truth.exports[variant];
  if (!info?.file) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `zoo-${entry.key}-`));
  const modelPath = path.join(dir, `${variant}.onnx`);
  fs.writeFileSync(modelPath, zlib.gunzipSync(fs.readFileSync(path.join(entry.dir, info.file))));
  const weights = path.join(dir, 'weights.bin');
  fs.writeFileSync(weights, '');
  fs.truncateSync(weights, info.externalBytes ?? 0);
  return { modelPath, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** What ModelFuse says about one export, next to what PyTorch says. */
export interface ZooResult {
  key: string;
  variant: Variant;
  /** Paths of modules that own graph nodes in ModelFuse's tree. */
  pathsChecked: number;
  /** Of those, paths that are no module of the PyTorch model. */
  wrongPaths: string[];
  /** fuse-list groups. */
  offered: string[][];
  /** The groups PyTorch says are right for this export (see expectedGroups). */
  expected: string[][];
  /** Offered but not expected: pasting these changes or breaks the model. */
  wrongGroups: string[][];
  /** Expected but not offered. */
  missingGroups: string[][];
  /** False where torch.fx could not trace the model (ViT): groups are then not judged, paths and calls still are. */
  groupsKnown: boolean;
  /** Modules ModelFuse calls shared that forward() calls once. */
  falseShared: string[];
  /** Modules forward() calls more than once that ModelFuse does not call shared (among those it shows). */
  missedShared: string[];
  error?: string;
}

/**
 * The groups fuse-list should offer: for torchvision's quantizable models the
 * groups their own fuse_model() fuses; otherwise torch.fx's fusible chains
 * without modules called twice. An eval-default export has no BatchNorm left
 * after a Conv (the exporter folded it), so without the checkpoint those
 * chains cannot be known and must not be offered in any other form.
 */
export function expectedGroups(truth: ZooTruth, variant: Variant): string[][] {
  const calls = truth.hookCalls ?? {};
  const all = truth.family === 'quant' && truth.fuseModelGroups
    ? truth.fuseModelGroups.filter((g) => !notExported(truth, g))
    : (truth.fusibleChains ?? []).filter((g) => g.every((m) => (calls[m] ?? 1) <= 1));
  if (variant !== 'eval-default') return all;
  // The exporter folds a BatchNorm into the Conv before it; a BatchNorm after anything else (DenseNet's norm1 after a
  // concatenation) stays a node, and its [bn, relu] group stays knowable.
  const classes = truth.moduleClasses ?? truth.classes ?? {};
  return all.filter((g) => !(/^Conv\dd$/.test(classes[g[0]] ?? '') && /BatchNorm/.test(classes[g[1]] ?? '')));
}

/**
 * A fuse_model() group whose modules forward() never calls in eval mode
 * (Inception's AuxLogits run only in training): the export holds no node of
 * it, so no tool reading the file can offer it. Listed apart, not as missing.
 */
export function notExported(truth: ZooTruth, group: string[]): boolean {
  const calls = truth.hookCalls;
  return !!calls && group.every((m) => !calls[m]);
}

/**
 * With `python` (the model's Python definition) an eval-default export is expected to give the full
 * groups, as if the BatchNorms were kept: the definition names what the exporter folded away.
 */
export function checkExport(entry: ZooEntry, variant: Variant, options: { python?: PythonDefinition } = {}): ZooResult | null {
  const m = materialise(entry, variant);
  if (!m) return null;
  const groupsKnown = !!entry.truth.fusibleChains || (entry.truth.family === 'quant' && !!entry.truth.fuseModelGroups);
  const expectedVariant: Variant = options.python ? 'bn-trained' : variant;
  const result: ZooResult = {
    key: entry.key, variant, groupsKnown, pathsChecked: 0, wrongPaths: [], offered: [],
    expected: groupsKnown ? expectedGroups(entry.truth, expectedVariant) : [],
    wrongGroups: [], missingGroups: [], falseShared: [], missedShared: [],
  };
  let model: OnnxModel | undefined;
  try {
    model = OnnxModel.load(m.modelPath, { weights: 'on-demand' });
    const analysis = analyzeModel(model, { python: options.python });
    const list = buildFuseList(analysis);
    result.offered = list.groups.map((g) => g.modules);
    const known = new Set(entry.truth.namedModules ?? Object.keys(entry.truth.hookCalls ?? {}));
    const calls = entry.truth.hookCalls ?? {};
    const visit = (n: { path: string; nodes: string[]; children: typeof n[] }): void => {
      if (n.path && n.nodes.length > 0) {
        result.pathsChecked++;
        if (!known.has(n.path)) result.wrongPaths.push(n.path);
        else {
          const sites = analysis.tree.callSites(n.path).length;
          const real = calls[n.path];
          if (real !== undefined && sites > 1 && real <= 1) result.falseShared.push(n.path);
          if (real !== undefined && real > 1 && sites <= 1) result.missedShared.push(n.path);
        }
      }
      n.children.forEach(visit);
    };
    visit(analysis.tree.root);
    const key = (g: string[]): string => g.join(',');
    const expected = new Set(result.expected.map(key));
    const offered = new Set(result.offered.map(key));
    // For an eval-default export the BatchNorm groups are unknowable without the checkpoint: not offering them is right.
    if (groupsKnown) {
      result.wrongGroups = result.offered.filter((g) => !expected.has(key(g)));
      result.missingGroups = result.expected.filter((g) => !offered.has(key(g)));
    }
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    model?.close();
    m.dispose();
  }
  return result;
}


/** torchvision's source file of a zoo model (Debian's python3-torchvision 0.14), for the Python-definition route. */
export const TORCHVISION_MODELS = '/usr/lib/python3/dist-packages/torchvision/models';
const SOURCE_BY_PREFIX: [RegExp, string][] = [
  [/^(resnet|resnext|wide_resnet)/, 'resnet.py'], [/^mobilenet_v2/, 'mobilenetv2.py'], [/^mobilenet_v3/, 'mobilenetv3.py'],
  [/^shufflenet/, 'shufflenetv2.py'], [/^googlenet/, 'googlenet.py'], [/^inception/, 'inception.py'], [/^densenet/, 'densenet.py'],
  [/^vgg/, 'vgg.py'], [/^efficientnet/, 'efficientnet.py'], [/^regnet/, 'regnet.py'], [/^mnasnet/, 'mnasnet.py'],
  [/^squeezenet/, 'squeezenet.py'], [/^alexnet/, 'alexnet.py'], [/^convnext/, 'convnext.py'], [/^vit_/, 'vision_transformer.py'],
  [/^swin/, 'swin_transformer.py'], [/^maxvit/, 'maxvit.py'],
];

/** The file defining the model (the quantizable variants: their quantization/ file), or null. */
export function torchvisionSource(truth: ZooTruth): string | null {
  const hit = SOURCE_BY_PREFIX.find(([re]) => re.test(truth.model));
  if (!hit) return null;
  const file = path.join(TORCHVISION_MODELS, truth.family === 'quant' ? 'quantization' : '', hit[1]);
  return fs.existsSync(file) ? file : null;
}
