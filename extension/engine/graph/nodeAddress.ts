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
 */
import type { onnx } from '../onnx/proto';

export function nodeAddresses(nodes: readonly onnx.INodeProto[]): Map<onnx.INodeProto, string> {
  const counts = new Map<string, number>();
  for (const n of nodes) if (n.name) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
  const addresses = new Map<onnx.INodeProto, string>();
  nodes.forEach((n, i) => {
    if (n.name && counts.get(n.name) === 1) {
      addresses.set(n, n.name);
      return;
    }
    // A real node may already be called `Conv#0`: extend the synthetic address until it clashes with no name.
    let address = `${n.name || n.op_type || 'node'}#${i}`;
    while (counts.has(address)) address += '#';
    addresses.set(n, address);
  });
  return addresses;
}
