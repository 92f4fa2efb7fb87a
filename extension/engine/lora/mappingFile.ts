/**
 * Writing the `--map` file that `buildPlan` reads (plan.ts): a JSON object
 * `{ "<adapter module>": "<base tensor>" | null }`, null meaning "leave this
 * module out on purpose". Front ends that pair modules by hand (the VS Code
 * mapping editor) save their choices here, so the same file works with
 * `modelfuse lora … --map FILE` on the command line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeAtomically } from '../io/atomicWrite';
import { fileError } from '../errors';
import { naturalCompare } from './targetTypes';
import type { MappingChoices } from './mappingTypes';
export * from './mappingTypes';


/** The file's text: entries in natural module order (layers.2 before layers.10), two-space indent, a final newline. */
export function mappingFileText(choices: MappingChoices): string {
  const sorted: MappingChoices = {};
  for (const module of Object.keys(choices).sort(naturalCompare)) {
    const target = choices[module];
    if (module === '') throw new Error('a mapping entry needs a module name');
    if (target !== null && (typeof target !== 'string' || target === '')) throw new Error(`'${module}': the target must be a tensor name or null`);
    sorted[module] = target;
  }
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/** Writes the file whole or not at all (temporary file, then rename). */
export async function writeMappingFile(file: string, choices: MappingChoices): Promise<void> {
  const text = mappingFileText(choices);
  if (!fs.existsSync(path.dirname(file))) throw fileError(file, `folder ${path.dirname(file)} does not exist`);
  await writeAtomically((files) => fs.writeFileSync(files.add(file), text, 'utf8'));
}

/** Where the editor saves a mapping by default: beside the base, named after it (`base.onnx` → `base.lora-map.json`). */
export function defaultMappingPath(base: string): string {
  const name = path.basename(base).replace(/(\.safetensors\.index\.json|\.index\.json|\.safetensors|\.onnx)$/i, '');
  return path.join(path.dirname(base), `${name}.lora-map.json`);
}
