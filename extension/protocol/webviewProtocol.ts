/**
 * The messages between the extension host and the model overview webview,
 * typed once for both sides. The channel itself (envelopes, the ready
 * handshake, requests and events) is shared/messagePeer.ts.
 */
import type { ModelOverview, OverviewLoadProgress } from './modelOverview';
import type { DriftReport, GraphCatalog, GraphDiffResult, GraphDrawing, NodeDetails } from './graphMethods';
import type { PeerSpec } from '../../shared/messagePeer';

export type { MessagePeer, PeerSpec } from '../../shared/messagePeer';

// ---------------------------------------------------------------------------
// The model overview editor (webview/overview ↔ extension/editor).

/** What the overview shows; the host sends it whole on every change and on every `ready`. */
export type OverviewState =
  | { phase: 'loading'; fileName: string; progress: OverviewLoadProgress }
  | { phase: 'ready'; overview: ModelOverview; actions: OverviewActions; graph?: GraphTabState }
  | { phase: 'error'; fileName: string; message: string };

/** Which buttons are live, and why not when they are not. */
export interface OverviewActions {
  /** Null when fusing is allowed; otherwise the reason shown instead of the buttons (untrusted workspace, …). */
  fuseDisabledReason: string | null;
  /** A running operation ("Fusing 2 sequences…"), during which the buttons are disabled. */
  busy: string | null;
  /** The Python definition (file name) that named the BatchNorms the exporter folded, or null. */
  namedFrom: string | null;
}

/** The Graph tab's part of the state: which model it is compared with (diff mode), if any. */
export interface GraphTabState {
  /** Absolute path of the model this one is compared with (the original of a fused model), or null. */
  diffBase: string | null;
  /** Open the Graph tab (after "Graph diff" was chosen for this model). */
  show: boolean;
}

/** What the overview webview handles. */
export interface OverviewWebviewSpec extends PeerSpec {
  requests: Record<string, never>;
  events: {
    state: OverviewState;
    /** The Fusible Sequences view's selection changed: the graph selects the same sequences. */
    graphSelection: { candidateIds: string[] };
  };
}

/** What the host handles for an overview webview. */
export interface OverviewHostSpec extends PeerSpec {
  requests: {
    /** Fuse these candidates (ids from `overview.candidates`). */
    fuse: { params: { candidateIds: string[] }; result: void };
    fuseAllSafe: { params: Record<string, never>; result: void };
    copyFuseList: { params: Record<string, never>; result: void };
    /** Choose (or change, or stop using) the Python file that defines this model. */
    choosePythonDefinition: { params: Record<string, never>; result: void };
    /** Show a sequence or module in the ModelFuse side panel. */
    reveal: { params: { candidateId: string }; result: void };
    /** Parse the file again (after an error, or after it changed on disk). */
    reload: { params: Record<string, never>; result: void };
    showLog: { params: Record<string, never>; result: void };
    // The Graph tab (webview/graph): data comes from the worker's graph.* methods through the host.
    graphOpen: { params: Record<string, never>; result: GraphCatalog };
    graphLayout: { params: { expanded: string[] }; result: GraphDrawing };
    graphNode: { params: { node: string }; result: NodeDetails };
    /** The graph's selection, to show in the side panel (`reveal`: the one sequence clicked last). */
    graphSelect: { params: { candidateIds: string[]; reveal: string | null }; result: void };
    /** "Fuse selected modules" (the side panel's command) on the graph's selection. */
    fuseSelected: { params: { candidateIds: string[] }; result: void };
    goToSource: { params: { modules: string[] }; result: void };
    /** Pick a model to compare this one with (diff mode), or null to leave diff mode. */
    chooseDiffBase: { params: { clear: boolean }; result: void };
    graphDiff: { params: Record<string, never>; result: GraphDiffResult | null };
    /** The graph of the diff base (drawn in diff mode's "before" view). */
    graphOpenBase: { params: Record<string, never>; result: GraphCatalog };
    graphLayoutBase: { params: { expanded: string[] }; result: GraphDrawing };
    locateDrift: { params: Record<string, never>; result: DriftReport };
    /** Open the file in another editor: VS Code's text editor, or the "Reopen With…" choice (text, hex editor, …). */
    reopenWith: { params: { editor: 'text' | 'choose' }; result: void };
  };
  events: Record<string, never>;
}
