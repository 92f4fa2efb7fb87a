/**
 * The worker methods the VS Code extension calls (the CLI calls the engine
 * directly). Each one loads the file in the worker process — parsing a large
 * model never runs on the extension host — and returns plain summaries:
 * weights never cross the IPC channel.
 *
 *   model/overview { path, python? }  → ModelOverview   (ONNX: + fusible sequences and module tree;
 *                  python: the model's definition, which names BatchNorms the exporter folded away)
 *   fusion/fuse    { model, output, candidateIds } → FuseFileResult (the fused model is written atomically)
 *
 * Verification is a separate `verify/run` request from the host, so that its
 * progress and cancellation are their own step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, ModelFuseError } from '../../engine/errors';
import { fuseModelFile, type FuseFileResult } from '../../engine/fusion/fuse';
import { registerHandler } from '../registry';
import { overviewOfFile } from './overviewOfFile';
import type { PythonDefinition } from '../../engine/graph/pythonFolds';

registerHandler('model/overview', async (params, ctx) => overviewOfFile(requirePath(params?.path, 'model/overview'), ctx, pythonParam(params?.python)));

registerHandler('fusion/fuse', async (params, ctx): Promise<FuseFileResult> => {
  const input = requirePath(params?.model, 'fusion/fuse');
  const output = requirePath(params?.output, 'fusion/fuse');
  const ids = params?.candidateIds;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((i) => typeof i === 'string')) throw new ModelFuseError('fusion/fuse: no sequences were selected');
  ctx.progress('reading the model');
  const r = await fuseModelFile(input, output, {
    only: ids,
    force: params?.replace === true,
    cancel: ctx.token,
    onProgress: (p) => ctx.progress(p.id ? `folding ${p.id}` : 'cleaning up the graph', p.done, p.total),
  });
  if (r.applied.length === 0) {
    // fuseModelFile writes the unchanged model for pipelines; in the editor a copy of the input would only
    // mislead. The output path was free when the host chose it a moment ago, so this removes only our file.
    for (const f of [r.output, r.externalData]) if (f) fs.rmSync(f, { force: true });
    const reasons = r.skipped.map((s) => `${s.id}: ${s.reason}`).join('; ');
    throw fileError(input, `nothing was fused (${reasons || 'no sequence could be folded'})`);
  }
  return r;
});

/** The host's analysis of a Python definition, checked for the shape the scan reads. */
function pythonParam(value: unknown): PythonDefinition | undefined {
  if (value === undefined) return undefined;
  const v = value as Partial<PythonDefinition> | null;
  if (!v || typeof v.file !== 'string' || !Array.isArray(v.classes)) throw new ModelFuseError('model/overview: python must be { file, classes } as analyzePythonSource returns it');
  return { file: v.file, classes: v.classes };
}

export function requirePath(value: unknown, method: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ModelFuseError(`${method}: a file path is required`);
  if (!path.isAbsolute(value)) throw fileError(value, 'the extension must pass absolute paths to the worker');
  return value;
}
