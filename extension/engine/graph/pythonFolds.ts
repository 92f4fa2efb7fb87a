/**
 * Names the BatchNorm of each Conv the exporter folded (exporterFolds.ts)
 * from the model's Python definition, when no state dict named it: a class
 * of the file whose forward runs `self.<conv>` then `self.<bn>` (a conv-bn
 * group of the Python analysis, the same one CodeLens offers) places that
 * BatchNorm beside the Conv, in the instance where the exported Conv is the
 * class's `<conv>`. It is taken only when it is certain from the file: the
 * BatchNorm is not a module of the export (it was folded away), the
 * instance is one and every child the export shows under it is a module the
 * class creates, the exporter's class name (dynamo) agrees where it was
 * recorded, and every class that could hold the Conv names the same
 * BatchNorm. Otherwise nothing is named and the resolution says why.
 */
import type { PyClassAnalysis } from '../python/analyzePython';
import { prefixOf, siblingPath } from '../python/linkModules';
import type { ExporterFoldedConv } from './exporterFolds';
import type { ModuleTree, ModuleTreeNode } from './moduleTree';

export interface PythonDefinition {
  /** The file as the user named it (for the evidence). */
  file: string;
  classes: readonly PyClassAnalysis[];
}

const CONV_BN = new Set(['conv-bn', 'conv-bn-relu', 'convtranspose-bn']);

/**
 * The class can be the instance's: every child module the export shows under it is one the class
 * creates in __init__ (a class of another model, or another block, names other children).
 */
function declaresAll(cls: PyClassAnalysis, instance: ModuleTreeNode): boolean {
  const declared = new Set(cls.modules.map((m) => m.path.split('.')[0]));
  return instance.children.every((child) => declared.has(child.name));
}

export function resolveFoldedFromPython(folded: Map<string, ExporterFoldedConv>, tree: ModuleTree, python: PythonDefinition): void {
  for (const f of folded.values()) {
    if (f.batchNorm) continue;
    const conv = tree.moduleOf(f.node);
    if (!conv) continue;
    const found = new Map<string, string>();
    for (const cls of python.classes) {
      for (const s of cls.sequences) {
        if (s.viaChild !== undefined || !CONV_BN.has(s.pattern) || s.modules.length < 2) continue;
        const bn = siblingPath(conv, s.modules[0], s.modules[1]);
        if (bn === null || tree.find(bn)) continue;
        const instance = prefixOf(conv, s.modules[0]) ?? '';
        const node = instance === '' ? tree.root : tree.find(instance);
        if (!node || !declaresAll(cls, node)) continue;
        const recorded = tree.classNameOf(instance);
        if (recorded !== undefined && recorded !== cls.name) continue;
        if (!found.has(bn)) found.set(bn, `class ${cls.name} of ${python.file} calls self.${s.modules[0]} then self.${s.modules[1]} (line ${s.lines.start + 1})`);
      }
    }
    const previous = f.resolution ? `${f.resolution}; ` : '';
    if (found.size === 1) {
      const [[bn, evidence]] = [...found];
      f.batchNorm = bn;
      f.resolution = `${previous}${evidence}: '${conv}' is its Conv, so the folded BatchNorm is '${bn}'`;
    } else if (found.size > 1) {
      f.resolution = `${previous}${python.file} places its BatchNorm in ${found.size} ways (${[...found.keys()].slice(0, 3).map((b) => `'${b}'`).join(', ')}): not guessed`;
    } else {
      f.resolution = `${previous}no class of ${python.file} runs a Conv → BatchNorm that ends at '${conv}'`;
    }
  }
}
