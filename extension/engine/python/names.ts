/**
 * Resolves the names a Python file uses for PyTorch classes: `nn.Conv2d`,
 * `torch.nn.Conv2d`, `Conv2d` after `from torch.nn import Conv2d`, an alias
 * after `import torch.nn as tnn`, `torch.nn.modules.conv.Conv2d`. Only the
 * module level import statements are read (imports inside functions are rare
 * in model files); a file with no torch imports at all (a pasted snippet) is
 * read with the universal convention `nn` = `torch.nn`.
 */
import { field, named, type SyntaxNode } from './treeSitter';

export class NameScope {
  /** Local name → fully qualified dotted path. */
  private readonly bindings = new Map<string, string>();
  private readonly starModules: string[] = [];

  static fromModule(root: SyntaxNode): NameScope {
    const scope = new NameScope();
    for (const stmt of named(root)) scope.readImport(stmt);
    // Snippets without imports still mean torch by `nn.`; an explicit binding always wins.
    if (!scope.bindings.has('nn')) scope.bindings.set('nn', 'torch.nn');
    return scope;
  }

  /** True when `torch` itself is a bound name (so generated code may say `torch.ao...`). */
  get bindsTorch(): boolean {
    return this.bindings.get('torch') === 'torch';
  }

  /** `a.b.C` → fully qualified `x.y.b.C` through the bindings; unknown heads stay as written. */
  qualify(dotted: string): string {
    const [head, ...rest] = dotted.split('.');
    const bound = this.bindings.get(head);
    if (bound !== undefined) return [bound, ...rest].join('.');
    if (rest.length === 0) {
      for (const m of this.starModules) if (m === 'torch.nn' && TORCH_NN_CLASSES.has(head)) return `${m}.${head}`;
    }
    return dotted;
  }

  /**
   * The torch.nn class a dotted name denotes (`Conv2d`), or null. Accepts the
   * public path and the defining module path (`torch.nn.modules.conv.Conv2d`).
   */
  torchNnClass(dotted: string): string | null {
    const q = this.qualify(dotted);
    const m = /^torch\.nn\.(?:modules\.[A-Za-z_]\w*\.)?([A-Za-z_]\w*)$/.exec(q);
    return m ? m[1] : null;
  }

  /**
   * The torchvision.ops block a dotted name denotes (`Conv2dNormActivation`), or null.
   * torchvision's own model files import them relatively (`from ..ops.misc import …`).
   */
  torchvisionOpsClass(dotted: string): string | null {
    const m = /^(?:torchvision|\.+)\.?ops(?:\.misc)?\.([A-Za-z_]\w*)$/.exec(this.qualify(dotted));
    return m ? m[1] : null;
  }

  /** Every `from MODULE import NAME` binding: (local name, module, imported name). */
  fromImports(): { local: string; module: string; name: string }[] {
    const out: { local: string; module: string; name: string }[] = [];
    for (const [local, q] of this.bindings) {
      const m = /^(.*[^.])\.([A-Za-z_]\w*)$|^(\.+)([A-Za-z_]\w*)$/.exec(q);
      if (!m || q === local) continue;
      const module = m[1] ?? m[3];
      out.push({ local, module, name: m[2] ?? m[4] });
    }
    return out;
  }

  private readImport(stmt: SyntaxNode): void {
    if (stmt.type === 'import_statement') {
      for (const item of named(stmt)) {
        if (item.type === 'dotted_name') {
          // `import torch.nn` binds `torch`.
          const head = item.text.split('.')[0];
          this.bindings.set(head, head);
        } else if (item.type === 'aliased_import') {
          const name = field(item, 'name')?.text;
          const alias = field(item, 'alias')?.text;
          if (name && alias) this.bindings.set(alias, name);
        }
      }
    } else if (stmt.type === 'import_from_statement') {
      // Relative imports are bound too (`from ..ops.misc import X` → `..ops.misc.X`): they name
      // workspace helpers and, inside torchvision itself, its library blocks.
      const from = field(stmt, 'module_name')?.text;
      if (!from) return;
      if (named(stmt).some((c) => c.type === 'wildcard_import')) {
        this.starModules.push(from.replace(/^torch\.nn\.modules(\.\w+)?$/, 'torch.nn'));
        return;
      }
      for (const item of stmt.childrenForFieldName('name')) {
        if (!item) continue;
        if (item.type === 'dotted_name') this.bindings.set(item.text, joinModule(from, item.text));
        else if (item.type === 'aliased_import') {
          const name = field(item, 'name')?.text;
          const alias = field(item, 'alias')?.text;
          if (name && alias) this.bindings.set(alias, joinModule(from, name));
        }
      }
    } else if (stmt.type === 'if_statement' || stmt.type === 'try_statement') {
      // `try: import torch ... except ImportError:` and TYPE_CHECKING blocks.
      for (const block of stmt.descendantsOfType(['import_statement', 'import_from_statement'])) if (block) this.readImport(block);
    }
  }
}

/** `from . import x` → `.x`, `from .a import x` → `.a.x`. */
function joinModule(from: string, name: string): string {
  return from.endsWith('.') ? from + name : `${from}.${name}`;
}

/** torch.nn names `from torch.nn import *` can bring in that matter here. */
const TORCH_NN_CLASSES = new Set([
  'Module', 'Sequential', 'ModuleList', 'ModuleDict',
  'Conv1d', 'Conv2d', 'Conv3d', 'ConvTranspose1d', 'ConvTranspose2d', 'ConvTranspose3d',
  'BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d', 'Linear', 'ReLU', 'ReLU6', 'Identity',
]);

/** The dotted text of a name expression (`nn.Conv2d`, `Conv2d`), or null for anything else. */
export function dottedName(node: SyntaxNode): string | null {
  if (node.type === 'identifier') return node.text;
  if (node.type === 'attribute') {
    const obj = field(node, 'object');
    const attr = field(node, 'attribute');
    const head = obj ? dottedName(obj) : null;
    return head && attr ? `${head}.${attr.text}` : null;
  }
  return null;
}
