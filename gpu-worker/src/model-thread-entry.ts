// A model thread (see model-session.ts): opens one onnxruntime session on the first provider that
// works, then runs inputs handed over by the event loop's thread and hands each buffer back with the output.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { createSessionOnFirstProvider } from './execution-providers.js';
import { niceCurrentThread } from './cpu-priority.js';
import { describeOutput, type FromModelThread, type ModelThreadData, type ToModelThread } from './model-session.js';

const port = parentPort!;
const { model, providers, settings, niceness } = workerData as ModelThreadData;
// Before the session exists, so onnxruntime's pool threads inherit the priority.
const niced = niceCurrentThread(niceness);
const attempt = await createSessionOnFirstProvider(model, providers, settings);
const session = attempt.session;
const post = (message: FromModelThread, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
post({
  kind: 'opened', provider: attempt.provider, failures: attempt.failures, niced,
  inputNames: [...(session?.inputNames ?? [])], outputNames: [...(session?.outputNames ?? [])],
});

port.on('message', (message: ToModelThread) => {
  if (message.kind === 'release') {
    void (session?.release() ?? Promise.resolve()).finally(() => {
      post({ kind: 'released' });
      port.close();
    });
    return;
  }
  const { id, buffer, inputName, dims, outputName } = message;
  void (async () => {
    try {
      if (!session) throw new Error('no session');
      const length = dims.reduce((a, b) => a * b, 1);
      const outputs = await session.run({ [inputName]: new ort.Tensor('float32', new Float32Array(buffer, 0, length), dims) });
      const output = describeOutput(outputs[outputName]);
      // Copy the (small) output: its memory belongs to onnxruntime's tensor.
      post({ kind: 'result', id, buffer, output: output && { ...output, data: output.data && Float32Array.from(output.data) } }, [buffer]);
    } catch (error) {
      post({ kind: 'result', id, buffer, error: error instanceof Error ? error.message : String(error) }, [buffer]);
    }
  })();
});
