/**
 * The PyTorch state dict a user keeps beside an export (or names with
 * `--weights`), read as graph/exporterFolds.ts needs it: to name the
 * BatchNorms the exporter folded away. A `.safetensors` file or a sharded
 * `model.safetensors.index.json`; pickled `.bin`/`.pt` files are never read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../errors';
import { bytesToFloat64 } from '../onnx/dtypes';
import { safetensorsDtypeToOnnx } from '../safetensors/safetensors';
import { SafetensorsBase } from '../lora/safetensorsTargets';
import type { StateDictReader } from '../graph/exporterFolds';

export interface Checkpoint extends StateDictReader {
  close(): void;
}

export function openCheckpoint(file: string): Checkpoint {
  const lower = file.toLowerCase();
  if (!lower.endsWith('.safetensors') && !lower.endsWith('.json')) {
    throw fileError(file, 'a checkpoint must be a .safetensors state dict or a sharded model.safetensors.index.json (pickled .bin/.pt files are not read)');
  }
  const base = SafetensorsBase.open(file);
  return {
    path: file,
    names: () => base.names(),
    shape: (name) => base.tensors.get(name)?.shape,
    values: (name) => {
      const t = base.tensors.get(name);
      if (!t) throw fileError(file, `no tensor named '${name}'`);
      return bytesToFloat64(base.readBytes(name), safetensorsDtypeToOnnx(t.dtype), t.shape.reduce((a, b) => a * b, 1));
    },
    close: () => base.close(),
  };
}

/** The state dict next to a model, by the names PyTorch and Hugging Face save it under: `<model>.safetensors`, `model.safetensors`, the shard index. */
export function checkpointBeside(modelPath: string): string | undefined {
  const dir = path.dirname(modelPath);
  const stem = path.basename(modelPath).replace(/\.onnx$/i, '');
  for (const name of [`${stem}.safetensors`, 'model.safetensors', 'model.safetensors.index.json']) {
    const p = path.join(dir, name);
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}
