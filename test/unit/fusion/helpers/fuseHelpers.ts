/** Fuse-and-compare helpers shared by the fusion tests. */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Candidate } from '../../../../extension/engine/fusion/candidate';
import { fuseCandidates, type FuseOptions, type FuseReport } from '../../../../extension/engine/fusion/fuse';
import { saveModel } from '../../../../extension/engine/onnx/save';
import { OnnxModel } from '../../../../extension/engine/onnx/model';
import { relativeToMax } from './numbers';
import { runOrt, writeModel, type ModelSpec } from './build';

export interface FusedFile {
  report: FuseReport;
  original: string;
  fused: string;
  model: OnnxModel;
}

/** Loads `file`, fuses `candidates`, writes `<file>.fused.onnx`, and reloads the result. */
export async function fuseFileWith(file: string, candidates: Candidate[], options: FuseOptions = {}): Promise<FusedFile> {
  const model = OnnxModel.load(file);
  const report = fuseCandidates(model, candidates, options);
  const fused = file.replace(/\.onnx$/, '') + '.fused.onnx';
  await saveModel(model, fused);
  model.close();
  return { report, original: file, fused, model: OnnxModel.load(fused) };
}

/** Writes `spec` into `dir`, fuses it, and checks ONNX Runtime gives the same outputs before and after. */
export async function fuseAndCompare(
  dir: string,
  name: string,
  spec: ModelSpec,
  candidates: Candidate[],
  feeds: Parameters<typeof runOrt>[1],
  tolerance = 1e-5,
): Promise<FusedFile & { before: Record<string, Float64Array>; after: Record<string, Float64Array> }> {
  const file = writeModel(dir, `${name}.onnx`, spec);
  const before = await runOrt(file, feeds);
  const result = await fuseFileWith(file, candidates);
  const after = await runOrt(result.fused, feeds);
  for (const out of Object.keys(before)) {
    assert.ok(after[out], `${name}: output '${out}' missing after fusing`);
    const d = relativeToMax(after[out], before[out]);
    assert.ok(d <= tolerance, `${name}: output '${out}' differs by ${d} (relative to its largest value) after fusing`);
  }
  return { ...result, before, after };
}

export function appliedIds(report: FuseReport): string[] {
  return report.applied.map((a) => a.id);
}

export const fixturePath = (dir: string, name: string): string => path.join(dir, name);
