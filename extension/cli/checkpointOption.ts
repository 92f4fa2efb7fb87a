/**
 * `--weights STATE_DICT` for scan and fuse-list: the PyTorch state dict that
 * names BatchNorms the exporter folded away (engine/graph/exporterFolds.ts).
 * Without it, a state dict beside the model (`<model>.safetensors`,
 * `model.safetensors`, the shard index) is used; one that cannot be read is
 * reported as a note, while a `--weights` file that cannot be read is an error.
 */
import { checkpointBeside, openCheckpoint, type Checkpoint } from '../engine/fusion/checkpoint';
import { ModelFuseError } from '../engine/errors';
import { cliErrorText } from './remedyText';
import { optValue, type OptionSpec, type ParsedArgs } from './args';
import type { CliIO } from './command';

export const WEIGHTS_OPTION: Record<string, OptionSpec> = { weights: { value: true } };

export interface CheckpointSource {
  /** For AnalyzeOptions.checkpoint: opened on first use. */
  open(): Checkpoint | undefined;
  close(): void;
}

export function checkpointSource(args: ParsedArgs, modelPath: string, io: CliIO): CheckpointSource {
  const given = optValue(args, 'weights');
  const file = given ?? checkpointBeside(modelPath);
  let opened: Checkpoint | undefined;
  let tried = false;
  return {
    open() {
      if (tried || !file) return opened;
      tried = true;
      try {
        opened = openCheckpoint(file);
      } catch (err) {
        if (given || !(err instanceof ModelFuseError)) throw err;
        io.err(`note: the state dict beside the model was not used: ${cliErrorText(err)}`);
      }
      return opened;
    },
    close() {
      opened?.close();
    },
  };
}
