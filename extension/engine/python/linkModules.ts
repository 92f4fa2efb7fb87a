/**
 * Links a fusible sequence of an exported ONNX model (module paths from the
 * model's root: `layer1.0.conv1`, `layer1.0.bn1`) to the Python class that
 * defines it (paths relative to the class: `conv1`, `bn1`). A link needs the
 * same relative paths under one common prefix; a Python group that stops
 * before the ONNX group's last module (the shared relu left out) still links,
 * to its own lines.
 */
import type { PyClassAnalysis, PySequence, PyUnsafeSequence } from './analyzePython';

export interface PythonLink {
  cls: PyClassAnalysis;
  /** The ONNX module path of the class instance (`layer1.0`), '' for the root. */
  instance: string;
  group: PySequence | PyUnsafeSequence;
  unsafe: boolean;
}

/**
 * Splits `full` into (prefix, relative) when it ends with `.relative` (or equals it). A negative
 * index in `relative` (`features.-1.0`: counted from the end of a Sequential built in a loop)
 * matches any index: the ONNX export names the last block by its number.
 */
export function prefixOf(full: string, relative: string): string | null {
  if (full === relative) return '';
  if (!/(^|\.)-\d+(\.|$)/.test(relative)) return full.endsWith(`.${relative}`) ? full.slice(0, full.length - relative.length - 1) : null;
  const pattern = relative.split('.').map((p) => (/^-\d+$/.test(p) ? '\\d+' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('\\.');
  const m = new RegExp(`^(?:(.*)\\.)?${pattern}$`).exec(full);
  return m ? (m[1] ?? '') : null;
}

export function linkToPython(onnxModules: readonly (string | null)[], classes: readonly PyClassAnalysis[]): PythonLink[] {
  if (onnxModules.length === 0 || onnxModules.some((m) => m === null)) return [];
  const modules = onnxModules as string[];
  const links: PythonLink[] = [];
  for (const cls of classes) {
    const groups: { group: PySequence | PyUnsafeSequence; unsafe: boolean }[] = [
      ...cls.sequences.filter((s) => !s.viaChild).map((group) => ({ group, unsafe: false })),
      ...cls.unsafe.map((group) => ({ group, unsafe: true })),
    ];
    for (const { group, unsafe } of groups) {
      const rel = group.modules;
      if (rel.length === 0 || rel.length > modules.length) continue;
      const instance = prefixOf(modules[0], rel[0]);
      if (instance === null) continue;
      if (rel.every((r, i) => prefixOf(modules[i], r) === instance)) links.push({ cls, instance, group, unsafe });
    }
  }
  // Exact-length matches first (the whole ONNX group), then safe before unsafe.
  return links.sort((a, b) => (b.group.modules.length - a.group.modules.length) || Number(a.unsafe) - Number(b.unsafe));
}

/**
 * The path of `sibling` (relative to a class, like `relative`) in the instance where `full` is that
 * class's `relative`: `features.1.conv.1` as `conv.-2` → `conv.-1` is `features.1.conv.2`. A negative
 * index of `sibling` is counted from the one `relative` has at the same place; null when `full` is
 * not `relative` of any instance, or the sibling's index cannot be told.
 */
export function siblingPath(full: string, relative: string, sibling: string): string | null {
  const instance = prefixOf(full, relative);
  if (instance === null) return null;
  const concrete = (instance === '' ? full : full.slice(instance.length + 1)).split('.');
  const rel = relative.split('.');
  const parts = sibling.split('.').map((part, i) => {
    if (!/^-\d+$/.test(part)) return part;
    if (rel[i] === undefined || !/^-\d+$/.test(rel[i]) || rel.slice(0, i).join('.') !== sibling.split('.').slice(0, i).join('.')) return null;
    const index = Number(concrete[i]) + (Number(part) - Number(rel[i]));
    return index >= 0 ? String(index) : null;
  });
  if (parts.some((p) => p === null)) return null;
  return [instance, ...parts].filter((p) => p !== '').join('.');
}
