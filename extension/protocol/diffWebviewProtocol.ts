/**
 * Messages of the parameter-diff panel and the inspector view, on the shared
 * MessagePeer channel of webviewProtocol.ts. Types only.
 */
import type { PeerSpec } from '../../shared/messagePeer';
import type { VerifyReport } from './workerProtocol';
import type { FoldRecord, LoraLayerRecord, ParamDiffSummary } from '../engine/stats/paramDiffTypes';
import type { ModuleInspection } from '../engine/stats/moduleParamsTypes';
import type { VerifyWords } from '../engine/stats/verifyText';

export type { FoldSummary, LoraLayerStats, ParamDiffSummary, TensorDiff } from '../engine/stats/paramDiffTypes';
export type { ParamStats } from '../engine/stats/moduleParamsTypes';
export type { VerifyWords };

export type DiffKind = 'fuse' | 'merge' | 'compare';

/** What `modelfuse.showDiff` takes: the two files and what is known about how the second was made. */
export interface DiffRequest {
  /** Absolute paths: original (or base) and fused (or merged). */
  before: string;
  after: string;
  kind?: DiffKind;
  /** The fuse report's applied folds (pairs renamed tensors, adds BN scale/shift). */
  folds?: FoldRecord[];
  /** The merge report's layers (rank, scale, keys). */
  lora?: LoraLayerRecord[];
  /** A verification already run; without it the panel shows none (or runs one for Compare models…). */
  verify?: VerifyReport | null;
}

export type DiffState =
  | { phase: 'loading'; title: string; message: string; fraction: number | null }
  | { phase: 'ready'; title: string; kind: DiffKind; summary: ParamDiffSummary; verify: VerifyState }
  | { phase: 'error'; title: string; message: string };

export type VerifyState =
  | { status: 'none'; reason: string; canRun?: boolean }
  | { status: 'running'; message: string }
  | { status: 'done'; report: VerifyReport; words: VerifyWords }
  | { status: 'failed'; message: string };

export interface DiffWebviewSpec extends PeerSpec {
  requests: Record<string, never>;
  events: { state: DiffState };
}

export interface DiffHostSpec extends PeerSpec {
  requests: {
    exportMarkdown: { params: Record<string, never>; result: void };
    reload: { params: Record<string, never>; result: void };
    showLog: { params: Record<string, never>; result: void };
    /** "Re-verify with…": choose the inputs (shapes, seed, file) and run the verification again. */
    reverify: { params: Record<string, never>; result: void };
  };
  events: Record<string, never>;
}

export type InspectorState =
  | { phase: 'empty'; message: string }
  | { phase: 'loading'; module: string; file: string }
  | { phase: 'ready'; file: string; inspection: ModuleInspection }
  | { phase: 'error'; module: string; message: string };

export interface InspectorWebviewSpec extends PeerSpec {
  requests: Record<string, never>;
  events: { state: InspectorState };
}

export interface InspectorHostSpec extends PeerSpec {
  requests: Record<string, never>;
  events: Record<string, never>;
}
