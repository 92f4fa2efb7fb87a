/**
 * How modules and fusible sequences look in the ModelFuse side panel: label,
 * description, tooltip, icon and context value per item. Pure (no `vscode`),
 * so what users see is unit-tested; the TreeDataProviders only wrap it.
 */
import type { CandidateView } from '../engine/fusion/candidateView';
import type { ModuleTreeNode } from '../engine/graph/moduleTree';
import { isModuleWithin, isSameModule } from '../engine/graph/peftModulePath';
import { exact, shortCount } from '../../shared/format';

/** Codicon names; the providers turn them into ThemeIcons with theme colours. */
export type ItemIcon = 'symbol-module' | 'symbol-class' | 'zap' | 'circle-slash' | 'symbol-operator' | 'warning' | 'debug-stackframe-dot';

export interface ItemModel {
  label: string;
  description: string;
  /** Markdown. */
  tooltip: string;
  icon: ItemIcon;
  /** Colour of the icon: a theme colour id, or null for the default. */
  iconColor: 'list.warningForeground' | 'disabledForeground' | 'charts.green' | null;
  /** `when` clauses in package.json match on this (`viewItem =~ /^sequence/`). */
  contextValue: string;
  expandable: boolean;
}

/** The root's children, plus a pseudo-module for nodes that belong to no module (when there are any). */
export function topLevelModules(root: ModuleTreeNode): ModuleTreeNode[] {
  const kids = [...root.children];
  if (root.nodes.length > 0) kids.push({ ...root, name: '(top level)', children: [], parameterCount: 0 });
  return kids;
}

/**
 * The tree node a sequence's module names (either PEFT form), for Reveal:
 * the layer itself, not its `base_layer`, since the search goes top-down.
 * `childrenOf` is the provider's, which records parents for `getParent`.
 */
export function findModuleNode(
  top: readonly ModuleTreeNode[],
  childrenOf: (m: ModuleTreeNode) => ModuleTreeNode[],
  modulePath: string,
): ModuleTreeNode | undefined {
  const hit = top.find((m) => m.path !== '' && isSameModule(m.path, modulePath));
  if (hit) return hit;
  // Every container that may hold it ('base_model' and a node-name scope can both claim a path): the first that does.
  for (const m of top) {
    if (m.path === '' || m.children.length === 0 || !isModuleWithin(m.path, modulePath)) continue;
    const found = findModuleNode(childrenOf(m), childrenOf, modulePath);
    if (found) return found;
  }
  return undefined;
}

export function moduleItem(m: ModuleTreeNode, candidates: readonly CandidateView[]): ItemModel {
  // Compared through the PEFT rule: the LoRA branch named `layers.0.attn.q_proj` belongs to `base_model.model.layers.0.attn.q_proj`.
  // The '(top level)' entry (path '') holds only the nodes of no module, so it does not count the whole model's sequences.
  const inSequences = candidates.filter((c) => c.modules.some((p) => p !== null && m.path !== '' && isModuleWithin(m.path, p)));
  const direct = candidates.filter((c) => c.modules.some((p) => p !== null && isSameModule(m.path, p)));
  const shared = m.callSites > 1;
  const parts: string[] = [];
  if (m.opTypes.length) parts.push(m.opTypes.join(', '));
  if (m.parameterCount > 0) parts.push(`${shortCount(m.parameterCount)} params`);
  if (shared) parts.push(`called ${m.callSites}×`);
  const isLeaf = m.children.length === 0;
  const tooltip = [
    `**${m.path || '(top level)'}**${m.className ? ` — \`${m.className}\`` : ''}`,
    '',
    m.opTypes.length ? `Operators: ${m.opTypes.map((o) => `\`${o}\``).join(', ')} (${m.nodes.length} node${m.nodes.length === 1 ? '' : 's'})` : 'No operators of its own',
    `Parameters: ${exact(m.parameterCount)}`,
    shared ? `\n$(warning) Called from ${m.callSites} places in forward(): passing it to \`fuse_modules\` would replace it by Identity at every call.` : '',
    direct.length ? `\nIn ${direct.length} fusible sequence${direct.length === 1 ? '' : 's'}: ${direct.map((c) => `\`${c.pattern}\``).join(', ')}` : '',
  ].filter((l) => l !== '').join('  \n');
  return {
    label: m.name || '(top level)',
    description: parts.join(' · '),
    tooltip,
    icon: shared ? 'warning' : isLeaf ? 'symbol-operator' : 'symbol-module',
    iconColor: shared ? 'list.warningForeground' : null,
    contextValue: inSequences.some((c) => c.fusibility.fusible) ? 'module.fusible' : 'module',
    expandable: !isLeaf,
  };
}

export function sequenceItem(c: CandidateView): ItemModel {
  const reason = c.fusibility.reason;
  // A LoRA branch is one module; its rank and scale are what tells one adapted layer from another.
  const label = [c.label, ...c.loraFacts].join(' · ');
  const description = c.blocked !== null ? `blocked: ${c.blocked}` : !c.folds ? 'grouping only (PyTorch)' : c.warnings.length ? `folds exactly · ${[...new Set(c.warnings.map((w) => w.label))].join(' · ')}` : 'folds exactly';
  const tooltip = [
    `**${c.pattern}** — ${label}`,
    '',
    `Nodes: ${c.nodes.map((n) => `\`${n}\``).join(' → ')}`,
    ...loraTooltipLines(c),
    c.blocked !== null ? `\n$(circle-slash) **Blocked:** ${c.blocked}` : reason ? `\n${reason}` : '\n$(check) Folds exactly into one node',
    ...c.warnings.map((w) => `\n$(warning) ${w.text}`),
  ].join('  \n');
  return {
    label: c.pattern,
    description: `${label} — ${description}`,
    tooltip,
    icon: c.warnings.length ? 'warning' : c.blocked !== null ? 'circle-slash' : c.folds ? 'zap' : 'debug-stackframe-dot',
    iconColor: c.warnings.length ? 'list.warningForeground' : c.blocked !== null || !c.folds ? 'disabledForeground' : 'charts.green',
    contextValue: reason === null ? 'sequence.fusible' : c.blocked !== null ? 'sequence.blocked' : 'sequence.grouping',
    expandable: false,
  };
}

/** The tooltip's account of a LoRA branch (its rank and scale are in the title line): what the fold does. */
function loraTooltipLines(c: CandidateView): string[] {
  if (c.loraFacts.length === 0) return [];
  const base = c.details?.base ? `its base \`${c.details.base}\`` : 'its base layer';
  const what = c.details?.dora === true ? 'rescales the weight of' : 'adds scale · B·A to the weight of';
  return [`LoRA branch: fusing ${what} ${base} and removes the branch`];
}
