/**
 * ONNX Runtime's messages in the user's words: one sentence naming the node
 * and what did not fit, instead of C++ source locations
 * (`element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(…) axis == 1
 * || axis == largest was false`). The raw message stays in the error's detail
 * (the log, `--debug`).
 */

/** A failed session.run: which node, which sizes; else ORT's reason without its C++ prefix. */
export function runFailureSentence(reason: string): string {
  const m = /running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/s.exec(reason);
  if (!m) return stripSourceLocation(reason);
  const [, op, node, status] = m;
  const where = `node '${node}' (${op})`;
  const broadcast = /broadcast an axis by a dimension other than 1\.\s*(\d+) by (\d+)/.exec(status);
  if (broadcast) {
    return `${where} cannot combine its inputs: a dimension of ${broadcast[1]} meets one of ${broadcast[2]} — the input sizes do not fit this model (choose sizes its layers accept)`;
  }
  const gemm = /GEMM: Dimension mismatch, W: \{([\d,]+)\} K: (\d+) N:(\d+)/.exec(status);
  if (gemm) return `${where} receives ${gemm[2]} features per row but its weight [${gemm[1].split(',').join(', ')}] expects another count — the input sizes do not fit this model`;
  if (/MatMul dimension mismatch|left operand cannot broadcast|Incompatible dimensions/i.test(status)) {
    return `${where} multiplies tensors whose inner sizes differ — the input sizes do not fit this model`;
  }
  if (/indices element out of data bounds|out of bounds|out of range/i.test(status)) {
    const idx = /idx=(-?\d+)/.exec(status)?.[1];
    const bounds = /must be within the inclusive range \[(-?\d+),\s*(-?\d+)\]/.exec(status);
    const range = bounds ? ` (valid ${bounds[1]}…${bounds[2]}${idx !== undefined ? `, got ${idx}` : ''})` : '';
    return `${where} read an index outside its table${range} — integer inputs are out of range for this model (choose a smaller --int-range or an inputs file)`;
  }
  if (/Invalid rank|rank mismatch|Invalid input shape|shape mismatch/i.test(status)) return `${where} got an input of a shape it does not accept: ${stripSourceLocation(status)}`;
  return `${where} failed: ${stripSourceLocation(status)}`;
}

/** A model ORT could not load. */
export function loadFailureSentence(reason: string): string {
  if (/^Protobuf parsing failed/i.test(reason)) return 'it is not a valid ONNX file (it is truncated or not a protobuf)';
  return stripSourceLocation(reason);
}

/** `/onnxruntime_src/…/x.h:563 void onnxruntime::F(args) cond was false. Reason` → `Reason`. */
function stripSourceLocation(text: string): string {
  const located = /^\/?\S*\.(?:h|cc|cpp):\d+\s+(.*)$/s.exec(text.trim());
  if (!located) return text.trim();
  const rest = located[1].replace(/^[\w:<>,\s*&]*\([^)]*\)\s*(const\s*)?/, '');
  const afterCheck = /was false\.\s*(.*)$/s.exec(rest);
  return (afterCheck ? afterCheck[1] : rest).trim() || text.trim();
}
