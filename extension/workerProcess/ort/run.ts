/** Running a session once, with ORT's failures reported as one line naming the model. */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { fileError } from '../../engine/errors';
import { ortReason, type Session } from './runtime';
import { runFailureSentence } from './ortErrors';

export async function runSession(session: Session, feeds: Record<string, Tensor>, modelPath: string): Promise<InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (err) {
    const reason = ortReason(err);
    throw fileError(modelPath, `ONNX Runtime failed to run this model: ${runFailureSentence(reason)}`, err, `onnxruntime: ${reason}`);
  }
}

/** Milliseconds of one run, measured around the await (what a caller of the model waits). */
export async function timedRun(session: Session, feeds: Record<string, Tensor>, modelPath: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await runSession(session, feeds, modelPath);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
