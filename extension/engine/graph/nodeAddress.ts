/**
 * How candidates, folds and reports refer to a node of the main graph.
 *
 * Node names are optional in ONNX and need not be unique: onnx.helper leaves
 * them empty by default, PyTorch before 1.5 wrote none, some converters repeat
 * them. A node with a unique non-empty name is addressed by that name; any
 * other node by `<name or op_type>#<position in graph.node>` (`Conv#0`,
 * `conv#7`), the form cleanup reports already use. Scan and fuse compute the
 * addresses from the same node list, so an address from a scan finds its node
 * in a fuse of the same model; the model itself is not renamed.
 *
 * A node keeps the address it was first given for as long as it lives: fuse
 * scans again after each pass, when folded nodes are gone and positions have
 * moved, and its report must still name nodes by their place in the model the
 * user gave (the diff view looks them up there).
 */
import type { onnx } from '../onnx/proto';

const assigned = new WeakMap<onnx.INodeProto, string>();

/** The address a node was last given by nodeAddresses, if any (for messages about nodes found through the index). */
export function knownAddress(node: onnx.INodeProto): string | undefined {
  return assigned.get(node);
}

export function nodeAddresses(nodes: readonly onnx.INodeProto[]): Map<onnx.INodeProto, string> {
  const counts = new Map<string, number>();
  for (const n of nodes) if (n.name) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
  const addresses = new Map<onnx.INodeProto, string>();
  const used = new Set<string>();
  // Addresses given earlier stay, as long as they still name exactly this node.
  for (const n of nodes) {
    const earlier = assigned.get(n);
    if (earlier === undefined || used.has(earlier)) continue;
    const stillValid = earlier === n.name ? counts.get(earlier) === 1 : !counts.has(earlier);
    if (!stillValid) continue;
    addresses.set(n, earlier);
    used.add(earlier);
  }
  nodes.forEach((n, i) => {
    if (addresses.has(n)) return;
    let address: string;
    if (n.name && counts.get(n.name) === 1 && !used.has(n.name)) {
      address = n.name;
    } else {
      // A real node may already be called `Conv#0`: extend the synthetic address until it clashes with nothing.
      address = `${n.name || n.op_type || 'node'}#${i}`;
      while (counts.has(address) || used.has(address)) address += '#';
    }
    addresses.set(n, address);
    used.add(address);
    assigned.set(n, address);
  });
  return addresses;
}
