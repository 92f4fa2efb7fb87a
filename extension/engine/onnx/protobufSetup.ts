/**
 * Runs before the generated ONNX code is loaded (proto.ts imports it first):
 * protobufjs finds `long` with a dynamic require, which a bundle may hide, and
 * without it int64 fields silently decode as lossy doubles. Setting it
 * explicitly keeps INT64_MAX and friends exact in every bundle.
 */
import Long from 'long';
import * as protobuf from 'protobufjs/minimal';

protobuf.util.Long = Long;
protobuf.configure();
