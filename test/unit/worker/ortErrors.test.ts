/** ONNX Runtime's C++ messages (copied from real failures of onnxruntime-node 1.30) become one sentence naming the node. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadFailureSentence, runFailureSentence } from '../../../extension/workerProcess/ort/ortErrors';

test('a broadcast failure names the node, its op and the two sizes, without C++ locations', () => {
  const raw = "Non-zero status code returned while running Add node. Name:'merge' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 111 by 112";
  assert.equal(runFailureSentence(raw), "node 'merge' (Add) cannot combine its inputs: a dimension of 111 meets one of 112 — the input sizes do not fit this model (choose sizes its layers accept)");
});

test('Gemm width mismatch, Gather out of range, an unknown failure, a load failure', () => {
  assert.equal(
    runFailureSentence("Non-zero status code returned while running Gemm node. Name:'fc' Status Message: GEMM: Dimension mismatch, W: {10,576} K: 676 N:10"),
    "node 'fc' (Gemm) receives 676 features per row but its weight [10, 576] expects another count — the input sizes do not fit this model",
  );
  assert.match(
    runFailureSentence("Non-zero status code returned while running Gather node. Name:'/embed/Gather' Status Message: indices element out of data bounds, idx=978 must be within the inclusive range [-64,63]"),
    /^node '\/embed\/Gather' \(Gather\) read an index outside its table \(valid -64…63, got 978\)/,
  );
  assert.equal(
    runFailureSentence("Non-zero status code returned while running Foo node. Name:'n1' Status Message: /onnxruntime_src/x/y.cc:12 void onnxruntime::Foo::Compute() const something was false. The thing is wrong"),
    "node 'n1' (Foo) failed: The thing is wrong",
  );
  assert.equal(loadFailureSentence('Protobuf parsing failed.'), 'it is not a valid ONNX file (it is truncated or not a protobuf)');
  assert.equal(loadFailureSentence('Unsupported model IR version: 99'), 'Unsupported model IR version: 99');
});
