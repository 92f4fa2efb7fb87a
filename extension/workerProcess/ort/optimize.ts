/**
 * ONNX Runtime's own offline optimization (`optimizedModelFilePath`): a
 * baseline to compare ModelFuse's folds against. `basic` applies
 * semantics-preserving rewrites that stay standard ONNX; `extended` adds
 * fusions into com.microsoft operators (FusedConv, FusedGemm, …) that only
 * ONNX Runtime can run. (`all`/layout optimizations are machine-specific and
 * not offered.)
 *
 * Written atomically: ORT writes into a temporary folder beside the output,
 * using the FINAL file names (the model records its external-data file name),
 * and the files are renamed into place only after ORT succeeded — data file
 * first, so a model never points at data that is not there yet.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFuseError, fileError } from '../../engine/errors';
import { checkOutputPath, forgetTemporary, moveIntoPlace, removeStaleTemporaries, tempPathFor, trackTemporary } from '../../engine/io/atomicWrite';
import { OnnxModel } from '../../engine/onnx/model';
import { isExternal } from '../../engine/onnx/tensors';
import type { OptimizeParams, OptimizeResult } from '../../protocol/workerProtocol';
import type { RunControl } from './latency';
import { createSession, releaseSession } from './runtime';

interface ModelFacts {
  nodes: number;
  hasExternalData: boolean;
  nonStandardOps: Record<string, number>;
}

function modelFacts(modelPath: string): ModelFacts {
  const m = OnnxModel.load(modelPath);
  try {
    const nonStandardOps: Record<string, number> = {};
    for (const n of m.graph.node) {
      const domain = n.domain ?? '';
      if (domain === '' || domain === 'ai.onnx') continue;
      const key = `${domain}::${n.op_type}`;
      nonStandardOps[key] = (nonStandardOps[key] ?? 0) + 1;
    }
    return { nodes: m.graph.node.length, hasExternalData: m.graph.initializer.some(isExternal), nonStandardOps };
  } finally {
    m.close();
  }
}

export async function optimizeModel(p: OptimizeParams, control: RunControl): Promise<OptimizeResult> {
  if (p.level !== 'basic' && p.level !== 'extended') {
    throw new ModelFuseError(`--ort-level '${p.level}': expected basic or extended`);
  }
  control.progress(`reading ${p.model}`);
  const before = modelFacts(p.model);
  const force = p.force ?? false;
  checkOutputPath(p.output, [p.model], force);
  const base = path.basename(p.output);
  const dataName = `${base}.data`;
  const finalData = path.join(path.dirname(p.output), dataName);
  if (before.hasExternalData && !force && fs.existsSync(finalData)) {
    throw fileError(finalData, 'file exists (the optimized model keeps its weights in external data here; use --force to replace it)');
  }

  removeStaleTemporaries(path.dirname(path.resolve(p.output)));
  const tempDir = trackTemporary(tempPathFor(path.resolve(p.output)));
  fs.mkdirSync(tempDir);
  try {
    const tempModel = path.join(tempDir, base);
    control.throwIfCancelled();
    control.progress(`ONNX Runtime optimizing at level ${p.level}`);
    const session = await createSession(p.model, p.level, {
      optimizedModelFilePath: tempModel,
      // Weights that were external stay external (the output may otherwise pass protobuf's 2 GiB limit).
      ...(before.hasExternalData
        ? { extra: { session: { optimized_model_external_initializers_file_name: dataName, optimized_model_external_initializers_min_size_in_bytes: '1024' } } }
        : {}),
    });
    await releaseSession(session);
    if (!fs.existsSync(tempModel)) throw fileError(p.model, 'ONNX Runtime did not write an optimized model');
    const after = modelFacts(tempModel); // also proves the output decodes and its external data is complete
    control.throwIfCancelled();
    const tempData = path.join(tempDir, dataName);
    const wroteData = fs.existsSync(tempData);
    if (wroteData) moveIntoPlace(tempData, finalData, force);
    try {
      moveIntoPlace(tempModel, p.output, force);
    } catch (err) {
      if (wroteData && !force) fs.rmSync(finalData, { force: true }); // placed by us a moment ago
      throw err;
    }
    return {
      output: p.output,
      externalData: wroteData ? finalData : null,
      level: p.level,
      nodesBefore: before.nodes,
      nodesAfter: after.nodes,
      nonStandardOps: after.nonStandardOps,
    };
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
    forgetTemporary(tempDir);
  }
}
