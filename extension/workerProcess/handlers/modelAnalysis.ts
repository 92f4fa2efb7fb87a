/**
 * The analysis of a model file as the user sees it, for every view of it (the overview, the side
 * panel, the Graph tab): the scan completed with what names the BatchNorms its exporter folded —
 * a state dict beside the model, and the Python definition the user chose. One function, so the
 * overview and the graph never name the same Conv differently.
 *
 * The host sends the definition with `model/overview` (it re-reads the model whenever the choice
 * or the file changes); the graph requests that follow for the same path use the same one.
 */
import { analyzeModel, type ModelAnalysis } from '../../engine/fusion/scan';
import { checkpointBeside, openCheckpoint, type Checkpoint } from '../../engine/fusion/checkpoint';
import type { PythonDefinition } from '../../engine/graph/pythonFolds';
import type { OnnxModel } from '../../engine/onnx/model';

const definitions = new Map<string, PythonDefinition>();

/** Records the definition the host chose for `model` (none: forgets it). */
export function rememberDefinition(model: string, python: PythonDefinition | undefined): void {
  if (python) definitions.set(model, python);
  else definitions.delete(model);
}

/** The definition last sent for `model`, if any (its identity tells a cached analysis whether it is still current). */
export function definitionOf(model: string): PythonDefinition | undefined {
  return definitions.get(model);
}

export function analyzeAsShown(model: OnnxModel, python = definitionOf(model.path)): ModelAnalysis {
  // A state dict that cannot be read only leaves the BatchNorms unnamed, with the reason on the sequence.
  let checkpoint: Checkpoint | undefined;
  const besideCheckpoint = (): Checkpoint | undefined => {
    const file = checkpointBeside(model.path);
    try {
      checkpoint = file ? openCheckpoint(file) : undefined;
    } catch {
      checkpoint = undefined;
    }
    return checkpoint;
  };
  try {
    return analyzeModel(model, { checkpoint: besideCheckpoint, python });
  } finally {
    checkpoint?.close();
  }
}
