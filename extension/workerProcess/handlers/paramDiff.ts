/**
 * `diff/params` and `model/inspectModule`: parameter statistics computed where the
 * weights are (the worker), returned as summaries. The inspector asks once
 * per selected module, so the last opened model is kept open (and reopened
 * when the file changes on disk).
 */
import * as fs from 'node:fs';
import { fileError, ModelFuseError } from '../../engine/errors';
import { computeParamDiff } from '../../engine/stats/paramDiff';
import { batchNormChannels } from '../../engine/stats/foldChannels';
import { inspectModule } from '../../engine/stats/moduleParams';
import { OnnxParamSource, openParamSource, type ParamSource } from '../../engine/stats/paramSource';
import type { ChannelAffineStats } from '../../engine/stats/paramDiffTypes';
import { registerHandler } from '../registry';

registerHandler('diff/params', async (params, ctx) => {
  const beforePath = requireFile(params?.before, 'diff/params', 'before');
  const afterPath = requireFile(params?.after, 'diff/params', 'after');
  ctx.progress('reading both models');
  const before = openParamSource(beforePath);
  let after: ParamSource | undefined;
  try {
    after = openParamSource(afterPath);
    const folds = params.folds ?? [];
    const foldChannels = new Map<string, ChannelAffineStats>();
    if (before instanceof OnnxParamSource) {
      for (const f of folds) {
        const c = batchNormChannels(before, f);
        if (c) foldChannels.set(f.id, c);
      }
    }
    let lastReport = 0;
    return computeParamDiff(before, after, {
      folds,
      foldChannels,
      lora: params.lora ?? [],
      bins: params.bins,
      cancel: ctx.token,
      onProgress: (done, total, name) => {
        // Throttled: one message per tensor would flood the channel for a large model.
        const now = Date.now();
        if (now - lastReport < 200 && done + 1 < total) return;
        lastReport = now;
        ctx.progress(`comparing ${name}`, done, total);
      },
    });
  } finally {
    before.close();
    after?.close();
  }
});

let cached: { path: string; mtimeMs: number; size: number; source: ParamSource } | undefined;

function cachedSource(path: string): ParamSource {
  const st = fs.statSync(path);
  if (cached && cached.path === path && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached.source;
  cached?.source.close();
  cached = undefined;
  const source = openParamSource(path);
  cached = { path, mtimeMs: st.mtimeMs, size: st.size, source };
  return source;
}

registerHandler('model/inspectModule', async (params, ctx) => {
  const file = requireFile(params?.path, 'model/inspectModule', 'path');
  if (typeof params.module !== 'string') throw new ModelFuseError('model/inspectModule: module must be a string');
  ctx.progress('reading the module parameters');
  return inspectModule(cachedSource(file), params.module, params.bins);
});

function requireFile(p: unknown, method: string, what: string): string {
  if (typeof p !== 'string' || p === '') throw new ModelFuseError(`${method}: '${what}' must be a file path`);
  if (!fs.existsSync(p)) throw fileError(p, 'file not found');
  return p;
}
