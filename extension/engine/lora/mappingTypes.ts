/**
 * The adapter-key → base-tensor mapping as the mapping editor shows and saves
 * it (mappingTable.ts builds the rows, mappingFile.ts writes the choices).
 * Plain data, no Node.
 */
import type { Phrase } from '../remedy';

export interface MappingCandidate {
  /** What a `--map` entry names: a safetensors key, or the value an ONNX node reads. */
  target: string;
  shape: number[];
  /** Who reads it (ONNX) or what it is, one line. */
  note: string;
  /** How much its name (and, in ONNX, the module names around its node) resembles the module path; higher first. */
  score: number;
}

export interface MappingRow {
  /** The module name: the key of its `--map` entry. */
  module: string;
  /** The adapters (as given) that adapt this module. */
  adapters: string[];
  kind: 'lora' | 'replace';
  /** The delta's shape in PyTorch layout ([out, in], [out, in, k…], [num, dim]), when it has one. */
  deltaShape: number[] | null;
  status: 'matched' | 'unmatched' | 'left-out';
  /** The base tensor it is paired with now (a `--map` value), or null. */
  target: string | null;
  /** Matched: the evidence for the pairing; otherwise why there is none. */
  evidence: Phrase[];
  /** Base tensors of a fitting shape, best name match first (at most MAX_CANDIDATES). */
  candidates: MappingCandidate[];
  /** When there is nothing to choose from, why (a module that replaces several tensors, no tensor of that shape). */
  note: string | null;
}

export type MappingChoices = Record<string, string | null>;
