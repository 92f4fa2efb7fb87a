/**
 * The LoRA key-mapping editor (extension/views/mappingEditor.ts ↔
 * webview/mapping): the host sends the table; the page sends the user's
 * choices back to be saved as a mapping file and merged.
 */
import type { PeerSpec } from '../../shared/messagePeer';
import type { MappingRow } from '../engine/lora/mappingTypes';
import type { MappingChoices } from '../engine/lora/mappingTypes';

export type { MappingChoices, MappingRow };

/** A row of the table as the page shows it: the evidence worded by the host (host/remedyText.ts). */
export type ShownMappingRow = Omit<MappingRow, 'evidence'> & { evidence: string[] };

export type MappingState =
  | { phase: 'loading'; message: string }
  | {
      phase: 'ready';
      base: string;
      baseKind: 'onnx' | 'safetensors';
      adapters: string[];
      /** Where "Save mapping and merge" writes the mapping file. */
      mapFile: string;
      rows: ShownMappingRow[];
      /** Problems of the current mapping that block the merge (shape mismatches, a tensor changed twice, nothing to merge). */
      errors: string[];
      /** A note about the table (e.g. an existing mapping file that no longer fits and was ignored). */
      note: string | null;
      /** Set while the host saves and re-checks the mapping. */
      busy: string | null;
    }
  | { phase: 'error'; message: string };

export interface MappingWebviewSpec extends PeerSpec {
  requests: Record<string, never>;
  events: { state: MappingState };
}

export interface MappingHostSpec extends PeerSpec {
  requests: {
    /** Save `choices` (module → base tensor, null = leave out) as the mapping file and merge with it. */
    saveAndMerge: { params: { choices: MappingChoices }; result: void };
    cancel: { params: Record<string, never>; result: void };
    showLog: { params: Record<string, never>; result: void };
  };
  events: Record<string, never>;
}
