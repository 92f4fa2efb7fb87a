/**
 * What exporters write about modules into node names and node metadata, read
 * in one place (the module tree, the LoRA matcher and the views ask here):
 *
 * - TorchScript node names, `/layer1/layer1.0/conv1/Conv`: one segment per
 *   module scope, each the module's path from its last named atom on
 *   (`conv.0.2` under `conv.0` under `conv` under `features.1`), with `_N`
 *   appended to a scope entered again (`relu_1`: the second call of `relu`);
 * - the dynamo exporter's `metadata_props`: `pkg.torch.onnx.name_scopes`
 *   (module paths, then the fx node's own name), `pkg.torch.onnx.class_hierarchy`
 *   (module classes), or the older `namespace` string.
 */
import type { onnx } from '../onnx/proto';

/**
 * A state-dict key: dotted identifiers / indices. The first segment may be an
 * index: the children of a top-level nn.Sequential are `0`, `1`, … (`1.running_mean`,
 * as older exporters wrote them). Generated names (`onnx::MatMul_30`,
 * `/fc/Constant_output_0`) and bare numbers (`1.5`) do not match.
 */
export const STATE_DICT_KEY = /^(?![\d.]+$)[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$/;

export const TORCHSCRIPT_CALL_SUFFIX = /_(\d+)$/;
/** torch.export marks the N-th repeated call of a module as `path@N`. */
const EXPORT_CALL_SUFFIX = /@(\d+)$/;

export interface TorchScriptScope {
  /** Scope segments as written (`relu_1`). */
  rawSegments: string[];
  /** Module path with the call suffixes kept (`relu_1`). */
  raw: string;
  /** Module path with `_N` call suffixes removed (`relu`). */
  stripped: string;
}

/** `/layer1/layer1.0/conv1/Conv` → layer1.0.conv1. Null for names that are not TorchScript scoped names. */
export function torchScriptScope(nodeName: string): TorchScriptScope | null {
  if (!nodeName.startsWith('/')) return null;
  const segments = nodeName.split('/').slice(1, -1); // drop the leading '' and the op name
  if (segments.length === 0 || segments.some((s) => s === '')) return null;
  return { rawSegments: segments, raw: joinScopes(segments), stripped: joinScopes(segments.map((s) => s.replace(TORCHSCRIPT_CALL_SUFFIX, ''))) };
}

/**
 * Joins TorchScript scope segments into a module path. The exporter names each
 * module's scope by `_unqualified_variable_name(path)`: its full path from the
 * last non-numeric atom on (torch/onnx/utils.py; PyTorch issue #90439), so
 * `features.1.conv.0.2` is the segment `conv.0.2` under `conv.0` under `conv`
 * under `features.1`. A segment therefore repeats the tail of its parent's
 * path when it starts with the parent's last named atom, followed by the
 * parent's trailing indices: only the atoms after that overlap are new. An
 * all-numeric segment (`0.1`, children of a top-level nn.Sequential) is a
 * full path already.
 */
export function joinScopes(segments: readonly string[], base = ''): string {
  let atoms = base ? base.split('.') : [];
  for (const s of segments) {
    const sa = s.split('.');
    if (sa.every(isIndex)) {
      atoms = sa;
      continue;
    }
    // Appended in place: hostile names thousands of segments deep stay linear.
    for (let i = scopeOverlap(atoms, sa); i < sa.length; i++) atoms.push(sa[i]);
  }
  return atoms.join('.');
}

/**
 * How many leading atoms of segment `sa` repeat the end of `atoms`: the
 * parent's last named atom and the indices after it. Never the whole segment:
 * a child named like its parent (`block.block`) adds an atom.
 */
function scopeOverlap(atoms: readonly string[], sa: readonly string[]): number {
  let lastNamed = atoms.length - 1;
  while (lastNamed >= 0 && isIndex(atoms[lastNamed])) lastNamed--;
  if (lastNamed < 0) return 0;
  const k = atoms.length - lastNamed;
  if (k >= sa.length) return 0;
  for (let i = 0; i < k; i++) if (atoms[lastNamed + i] !== sa[i]) return 0;
  return k;
}

function isIndex(atom: string): boolean {
  return /^\d+$/.test(atom);
}

export interface DynamoScope {
  path: string;
  rawPath: string;
  classes: Map<string, string>;
}

/** `pkg.torch.onnx.name_scopes` = "['', 'layer1', 'layer1.0', 'relu']": module scopes, then the fx node. */
export function dynamoScope(node: onnx.INodeProto): DynamoScope | null {
  const props = new Map((node.metadata_props ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  let scopes = parsePythonStringList(props.get('pkg.torch.onnx.name_scopes'));
  let hierarchy = parsePythonStringList(props.get('pkg.torch.onnx.class_hierarchy')) ?? [];
  if (!scopes) ({ scopes, hierarchy } = parseNamespace(props.get('namespace')));
  if (!scopes || scopes.length < 2) return null;
  const moduleScopes = scopes.slice(0, -1);
  let rawPath = '';
  const classes = new Map<string, string>();
  moduleScopes.forEach((s, i) => {
    const scope = normaliseDynamoPath(s);
    // Scopes are normally full paths (`layer1`, `layer1.0`); a relative one is appended to its parent.
    if (scope) {
      const nested = rawPath && !stripExportSuffixes(scope).startsWith(stripExportSuffixes(rawPath) + '.');
      rawPath = nested ? `${rawPath}.${scope}` : scope;
    }
    const cls = hierarchy[i];
    if (cls && rawPath) classes.set(stripExportSuffixes(rawPath), cls);
  });
  if (!rawPath) return null;
  return { path: stripExportSuffixes(rawPath), rawPath, classes };
}

/**
 * The older `namespace` form of the same information:
 * ": __main__.Net/layer1: torch.nn.Sequential/layer1.0: torchvision.Bottleneck/relu: aten.relu.default"
 * (module paths never contain '/'; each segment is `path: class`, the last one the fx node).
 */
function parseNamespace(text: string | undefined): { scopes: string[] | null; hierarchy: string[] } {
  if (!text || !text.includes(': ')) return { scopes: null, hierarchy: [] };
  const segments = text.split('/').map((seg) => {
    const i = seg.indexOf(': ');
    return i < 0 ? [seg, ''] : [seg.slice(0, i), seg.slice(i + 2)];
  });
  return { scopes: segments.map((s) => s[0]), hierarchy: segments.map((s) => s[1]) };
}

/** `L['self'].layer1[0].conv1` (strict-mode dynamo) → `layer1.0.conv1`; plain paths are returned as they are. */
function normaliseDynamoPath(s: string): string {
  return s
    .replace(/^L\['self'\]\.?/, '')
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/\['([^']*)'\]/g, '.$1')
    .replace(/^\./, '');
}

export function stripExportSuffixes(path: string): string {
  return path.split('.').map((s) => s.replace(EXPORT_CALL_SUFFIX, '')).join('.');
}

/** Parses a Python repr of a list of strings: `['', 'bn1', "it's"]`. Null if it is not one. */
export function parsePythonStringList(text: string | undefined): string[] | null {
  if (!text) return null;
  const t = text.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return null;
  const out: string[] = [];
  const re = /\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(,|$)/y;
  const body = t.slice(1, -1);
  re.lastIndex = 0;
  while (re.lastIndex < body.length) {
    const m = re.exec(body);
    if (!m) return null;
    out.push((m[1] ?? m[2]).replace(/\\(.)/g, '$1'));
    if (m[3] === '') break;
  }
  return out;
}

export function isBatchNormClass(cls: string | undefined): boolean {
  return !!cls && /BatchNorm/i.test(cls);
}
