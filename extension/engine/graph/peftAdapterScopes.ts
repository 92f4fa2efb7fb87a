/**
 * Gives PEFT's adapter modules back the container their TorchScript scope lost.
 *
 * PEFT's `LoraLayer.forward` computes
 * `base_layer(x) + lora_B[name](lora_A[name](lora_dropout[name](x))) * scaling`.
 * `lora_A`, `lora_B` and `lora_dropout` are ModuleDicts keyed by adapter name;
 * a ModuleDict is indexed, never called, so the adapter's scopes read
 * `/model/q_proj/default` and `/model/q_proj/default_1`: the adapter name,
 * with nothing saying which dict it came from. When the adapter's weights keep
 * their state-dict names (`conv1.lora_A.default.weight`) the tree already has
 * the full path; when they do not (a Linear's weight is exported transposed,
 * as `onnx::MatMul_141`), the scope was resolved from the data flow to
 * `….q_proj.default`, and the data flow also tells the dicts apart:
 * lora_B's MatMul/Conv reads lora_A's output, lora_A's reads the layer's
 * input, and a node computing nothing is the dropout.
 *
 * Applied only inside a PEFT LoRA layer: a module that also has a
 * `base_layer` child.
 */
import type { onnx } from '../onnx/proto';
import type { GraphIndex } from './graphIndex';

/** The ops an adapter's A or B runs (Linear, Conv1d/2d/3d, ConvTranspose; Gemm as older exporters write a Linear). */
const ADAPTER_COMPUTE_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'ConvTranspose']);

/**
 * Renames, in `scopePaths`, each scope in `inferred` (resolved from data flow,
 * not from parameter names) whose path is `<layer>.<adapter>` of a PEFT layer
 * to `<layer>.lora_A.<adapter>`, `<layer>.lora_B.<adapter>` or
 * `<layer>.lora_dropout.<adapter>`.
 */
export function nameAdapterScopes(
  scoped: ReadonlyMap<onnx.INodeProto, { key: string }>,
  index: GraphIndex,
  scopePaths: Map<string, string>,
  inferred: ReadonlySet<string>,
): void {
  const loraLayers = new Set([...scopePaths.values()].filter((p) => p.endsWith('.base_layer')).map((p) => p.slice(0, -'.base_layer'.length)));
  const nodesOfKey = new Map<string, onnx.INodeProto[]>();
  for (const [node, s] of scoped) {
    const path = inferred.has(s.key) ? scopePaths.get(s.key) : undefined;
    const dot = path ? path.lastIndexOf('.') : -1;
    if (!path || dot < 0 || !loraLayers.has(path.slice(0, dot)) || path.endsWith('.base_layer')) continue;
    let list = nodesOfKey.get(s.key);
    if (!list) nodesOfKey.set(s.key, (list = []));
    list.push(node);
  }
  const roles = new Map<string, string>();
  for (const [key, nodes] of nodesOfKey) {
    const path = scopePaths.get(key)!;
    const compute = nodes.filter((n) => ADAPTER_COMPUTE_OPS.has(n.op_type ?? ''));
    // lora_B: computes on the output of another scope of the same adapter that computes (lora_A).
    const readsAdapter = compute.some((n) =>
      (n.input ?? []).some((v) => {
        const p = v ? index.producer.get(v) : undefined;
        const ps = p && scoped.get(p);
        return !!ps && ps.key !== key && scopePaths.get(ps.key) === path && ADAPTER_COMPUTE_OPS.has(p.op_type ?? '');
      }),
    );
    roles.set(key, readsAdapter ? 'lora_B' : compute.length > 0 ? 'lora_A' : 'lora_dropout');
  }
  for (const [key, role] of roles) {
    const path = scopePaths.get(key)!;
    const dot = path.lastIndexOf('.');
    scopePaths.set(key, `${path.slice(0, dot)}.${role}${path.slice(dot)}`);
  }
}
