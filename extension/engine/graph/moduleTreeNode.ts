/**
 * One module of the module tree as plain data (moduleTree.ts builds the tree;
 * the side panel, the overview and the graph show it). No Node.
 */
/** One module in the tree; plain data, so it serialises to JSON for the tree view as is. */
export interface ModuleTreeNode {
  /** Full module path (`layer1.0.conv1`); '' for the root (the model itself). */
  path: string;
  /** Last path segment (`conv1`, `0`); '' for the root. */
  name: string;
  children: ModuleTreeNode[];
  /** Names of the nodes this module ran directly (not those of its children), in graph order. For the root: nodes of no module. */
  nodes: string[];
  /** Distinct op types of `nodes`, in first-seen order. */
  opTypes: string[];
  /** Elements of the floating-point initializers held by this module and its descendants. */
  parameterCount: number;
  /** How many times forward() of this module was called (0 for containers seen only through their children). */
  callSites: number;
  /** The PyTorch class when the exporter recorded it (dynamo), e.g. `torch.nn.modules.conv.Conv2d`. */
  className?: string;
}
